package io.kvasir.cli;

import java.util.Locale;

/** Byte sizes on the command line: {@code 1048576}, {@code 512MiB}, {@code 4GiB}, {@code 2g}, {@code 64k}. */
final class Sizes {
    private Sizes() {
    }

    static long parse(String option, String text) {
        String t = text.trim().toLowerCase(Locale.ROOT).replace("ib", "").replace("b", "");
        long unit = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'k' -> unit = 1L << 10;
                case 'm' -> unit = 1L << 20;
                case 'g' -> unit = 1L << 30;
                case 't' -> unit = 1L << 40;
                default -> unit = 1;
            }
        }
        String number = unit == 1 ? t : t.substring(0, t.length() - 1);
        try {
            double v = Double.parseDouble(number);
            if (v < 0 || Double.isNaN(v) || Double.isInfinite(v)) {
                throw new NumberFormatException();
            }
            return Math.round(v * unit);
        } catch (NumberFormatException e) {
            throw new Args.UsageException("--" + option + " must be a size like 512MiB or 4GiB, got \"" + text + "\"");
        }
    }
}
