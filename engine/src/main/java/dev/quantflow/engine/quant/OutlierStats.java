package dev.quantflow.engine.quant;

/**
 * LLM.int8() outlier accounting of one layer: forward calls (steps), input values (row, column)
 * that went the fp path, input values seen (rows x columns); the fraction is outlierColumns /
 * columnsSeen, the mean share of a row's columns that were outliers.
 */
public record OutlierStats(long steps, long outlierColumns, long columnsSeen) {
    public static final OutlierStats NONE = new OutlierStats(0, 0, 0);

    public double fraction() {
        return columnsSeen == 0 ? 0 : (double) outlierColumns / columnsSeen;
    }

    public OutlierStats plus(OutlierStats o) {
        return new OutlierStats(steps + o.steps, outlierColumns + o.outlierColumns, columnsSeen + o.columnsSeen);
    }
}
