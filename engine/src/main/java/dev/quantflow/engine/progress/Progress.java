package dev.quantflow.engine.progress;

import java.util.function.Supplier;

/**
 * Hears how far a long operation has got: layers loaded (and packed or quantized), calibration
 * and evaluation windows, tensors written. The engine reports, the CLI renders (a bar on a
 * terminal, log lines elsewhere). The listener in effect is a scoped value rather than a parameter
 * so the deep places that do the work (LlamaStage, Calibration, ...) report without every caller
 * threading it through; a thread that does not run inside {@link #during} reports to {@link #NONE}.
 */
@FunctionalInterface
public interface Progress {
    /**
     * done of total units of task so far (total > 0); the last call of a task has done == total.
     * Called on the working thread, possibly from several threads at once (pipeline stages).
     */
    void update(String task, long done, long total, String unit);

    Progress NONE = (task, done, total, unit) -> {};

    ScopedValue<Progress> CURRENT = ScopedValue.newInstance();

    /** The listener of the running operation, or NONE. */
    static Progress current() {
        return CURRENT.orElse(NONE);
    }

    /** Runs work with listener as {@link #current()}. */
    static <T> T during(Progress listener, Supplier<T> work) {
        return ScopedValue.where(CURRENT, listener).call(work::get);
    }

    static void during(Progress listener, Runnable work) {
        ScopedValue.where(CURRENT, listener).run(work);
    }

    /** This listener with every task named "prefix: task" (e.g. one pipeline stage of several). */
    default Progress prefixed(String prefix) {
        Progress inner = this;
        return (task, done, total, unit) -> inner.update(prefix + ": " + task, done, total, unit);
    }
}
