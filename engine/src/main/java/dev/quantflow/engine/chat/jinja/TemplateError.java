package dev.quantflow.engine.chat.jinja;

/** A syntax or evaluation error in a template, with the line it happened on. */
public final class TemplateError extends RuntimeException {
    private final boolean raisedByTemplate;

    TemplateError(String message) {
        this(message, false);
    }

    TemplateError(String message, boolean raisedByTemplate) {
        super(message);
        this.raisedByTemplate = raisedByTemplate;
    }

    /** True when the template itself called raise_exception (the input was refused, not the template broken). */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }
}
