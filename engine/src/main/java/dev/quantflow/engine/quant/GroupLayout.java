package dev.quantflow.engine.quant;

/**
 * Groups of size groupSize along a row of cols values: group g is [g*G, min((g+1)*G, cols)); the
 * last group is ragged when G does not divide cols (stories260K's 172 = 128 + 44), and a group
 * larger than the row means one group per row.
 */
public record GroupLayout(int cols, int groupSize) {
    public GroupLayout {
        if (cols <= 0 || groupSize <= 0) throw new IllegalArgumentException("cols and group size must be positive");
        groupSize = Math.min(groupSize, cols);
    }

    public static GroupLayout perRow(int cols) {
        return new GroupLayout(cols, cols);
    }

    public int groups() {
        return (cols + groupSize - 1) / groupSize;
    }

    public int start(int g) {
        return g * groupSize;
    }

    public int end(int g) {
        return Math.min(cols, (g + 1) * groupSize);
    }

    public boolean perRowOnly() {
        return groupSize == cols;
    }
}
