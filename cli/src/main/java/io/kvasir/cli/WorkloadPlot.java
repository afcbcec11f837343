package io.kvasir.cli;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An SVG a browser opens: the TTFT CDF of every mode (log time axis) at the highest rate run, and,
 * when several rates were swept, goodput against rate.
 */
final class WorkloadPlot {
    private static final String[] COLOURS = {"#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b"};
    private static final int W = 560, H = 360, LEFT = 60, TOP = 30, PW = 460, PH = 270;

    private WorkloadPlot() {
    }

    /** {@code runs}: rate → mode → report, in the order run. */
    static String svg(String title, Map<Double, Map<String, WorkloadReport>> runs) {
        boolean sweep = runs.size() > 1;
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
                + "font-family='sans-serif' font-size='11'>%n", sweep ? 2 * W : W, H + 20));
        s.append("<rect width='100%' height='100%' fill='white'/>\n");
        double lastRate = runs.keySet().stream().reduce((a, b) -> b).orElseThrow();
        cdf(s, title + " — TTFT CDF at " + fmt(lastRate) + " req/s", runs.get(lastRate));
        if (sweep) {
            s.append(String.format("<g transform='translate(%d,0)'>%n", W));
            goodput(s, runs);
            s.append("</g>\n");
        }
        return s.append("</svg>\n").toString();
    }

    private static void cdf(StringBuilder s, String title, Map<String, WorkloadReport> modes) {
        double lo = Double.MAX_VALUE, hi = 0;
        for (WorkloadReport r : modes.values()) {
            for (double v : r.ttftMs()) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        }
        if (hi <= 0) {
            return;
        }
        double minLog = Math.floor(Math.log10(Math.max(1, lo))), maxLog = Math.ceil(Math.log10(Math.max(10, hi)));
        if (maxLog <= minLog) {
            maxLog = minLog + 1;
        }
        frame(s, title, "TTFT (ms, log scale)", "fraction of requests");
        for (double d = minLog; d <= maxLog; d++) {
            double x = LEFT + (d - minLog) / (maxLog - minLog) * PW;
            s.append(String.format(Locale.ROOT, "<text x='%.1f' y='%d' text-anchor='middle'>%s</text>%n", x, TOP + PH + 15,
                    fmt(Math.pow(10, d))));
        }
        yTicks(s, 1.0, "");
        int i = 0;
        for (var e : modes.entrySet()) {
            double[] t = e.getValue().ttftMs();
            StringBuilder points = new StringBuilder();
            for (int k = 0; k < t.length; k++) {
                double x = LEFT + (Math.log10(Math.max(1, t[k])) - minLog) / (maxLog - minLog) * PW;
                double y0 = TOP + PH - (double) k / t.length * PH, y1 = TOP + PH - (double) (k + 1) / t.length * PH;
                points.append(String.format(Locale.ROOT, "%.1f,%.1f %.1f,%.1f ", x, y0, x, y1));
            }
            line(s, points.toString(), i++, e.getKey());
        }
    }

    private static void goodput(StringBuilder s, Map<Double, Map<String, WorkloadReport>> runs) {
        double maxRate = runs.keySet().stream().mapToDouble(Double::doubleValue).max().orElse(1);
        double maxGood = runs.values().stream().flatMap(m -> m.values().stream())
                .mapToDouble(WorkloadReport::goodput).max().orElse(1);
        maxGood = maxGood <= 0 ? 1 : maxGood * 1.1;
        frame(s, "goodput against offered rate", "offered rate (req/s)", "goodput (req/s)");
        for (double r : runs.keySet()) {
            s.append(String.format(Locale.ROOT, "<text x='%.1f' y='%d' text-anchor='middle'>%s</text>%n",
                    LEFT + r / maxRate * PW, TOP + PH + 15, fmt(r)));
        }
        yTicks(s, maxGood, "");
        List<String> modes = runs.values().iterator().next().keySet().stream().toList();
        for (int i = 0; i < modes.size(); i++) {
            StringBuilder points = new StringBuilder();
            for (var run : runs.entrySet()) {
                WorkloadReport r = run.getValue().get(modes.get(i));
                points.append(String.format(Locale.ROOT, "%.1f,%.1f ", LEFT + run.getKey() / maxRate * PW,
                        TOP + PH - r.goodput() / maxGood * PH));
            }
            line(s, points.toString(), i, modes.get(i));
        }
    }

    private static void frame(StringBuilder s, String title, String xLabel, String yLabel) {
        s.append(String.format("<text x='%d' y='18' font-size='13'>%s</text>%n", LEFT, title));
        s.append(String.format("<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#888'/>%n", LEFT, TOP, PW, PH));
        s.append(String.format("<text x='%d' y='%d' text-anchor='middle'>%s</text>%n", LEFT + PW / 2, TOP + PH + 32, xLabel));
        s.append(String.format("<text x='14' y='%d' text-anchor='middle' transform='rotate(-90 14 %d)'>%s</text>%n",
                TOP + PH / 2, TOP + PH / 2, yLabel));
    }

    private static void yTicks(StringBuilder s, double max, String unit) {
        for (int k = 0; k <= 4; k++) {
            double y = TOP + PH - k / 4.0 * PH;
            s.append(String.format(Locale.ROOT, "<text x='%d' y='%.1f' text-anchor='end'>%s%s</text>%n", LEFT - 5, y + 4,
                    fmt(max * k / 4), unit));
            s.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#eee'/>%n", LEFT,
                    LEFT + PW, y, y));
        }
    }

    private static void line(StringBuilder s, String points, int i, String label) {
        String colour = COLOURS[i % COLOURS.length];
        s.append(String.format("<polyline fill='none' stroke='%s' stroke-width='2' points='%s'/>%n", colour, points));
        s.append(String.format("<text x='%d' y='%d' fill='%s'>%s</text>%n", LEFT + 10, TOP + 15 + 14 * i, colour, label));
    }

    private static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? Long.toString((long) v) : String.format(Locale.ROOT, "%.2f", v);
    }
}
