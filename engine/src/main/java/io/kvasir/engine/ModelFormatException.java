package io.kvasir.engine;

/**
 * A model file or folder that cannot be used: wrong magic, truncated data, an unknown dtype,
 * a missing tensor, a shape that does not match the config. The message always names the file
 * and, where there is one, the tensor or key and the offending value.
 */
public final class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
