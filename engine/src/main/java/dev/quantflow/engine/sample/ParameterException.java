package dev.quantflow.engine.sample;

/**
 * A generation parameter outside its range. param is the parameter's API name (temperature,
 * top_p, ...), so the server can name it in a 400 and the CLI prints the same message.
 */
public final class ParameterException extends IllegalArgumentException {
    private final String param;

    public ParameterException(String param, String message) {
        super(message);
        this.param = param;
    }

    public String param() {
        return param;
    }
}
