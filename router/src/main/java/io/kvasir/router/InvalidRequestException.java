package io.kvasir.router;

/** A request field that is wrong; the message starts with the field's name. */
final class InvalidRequestException extends Exception {
    public InvalidRequestException(String field, String problem) {
        super(field + ": " + problem);
    }
}
