package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.pekko.event.LoggingAdapter;
import org.apache.pekko.http.ParsingErrorHandler;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.scaladsl.model.ErrorInfo;
import org.apache.pekko.http.scaladsl.model.StatusCode;
import org.apache.pekko.http.scaladsl.settings.ServerSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Requests that Pekko HTTP refuses before they reach a route (URI too long 414, header too large
 * 431, too many headers or a bad Content-Length 400, unknown method 501, bad HTTP version 505) are
 * answered in OpenAI's error shape like every other error (pekko.http.server.parsing.error-handler;
 * Pekko creates it by reflection). The connection is closed after it.
 */
public class JsonParsingErrorHandler extends ParsingErrorHandler {
    private static final Logger log = LoggerFactory.getLogger("quantflow.access");
    private final boolean logged;

    public JsonParsingErrorHandler() {
        this(true);
    }

    private JsonParsingErrorHandler(boolean logged) {
        this.logged = logged;
    }

    /** The same answers without the access-log line (access-log = off). */
    public static final class Quiet extends JsonParsingErrorHandler {
        public Quiet() {
            super(false);
        }
    }

    /** The class name for pekko.http.server.parsing.error-handler. */
    public static String className(boolean accessLog) {
        return (accessLog ? JsonParsingErrorHandler.class : Quiet.class).getName();
    }

    @Override
    public HttpResponse handle(StatusCode status, ErrorInfo info, LoggingAdapter pekkoLog, ServerSettings settings) {
        if (logged) log.info("rejected a malformed request: status={} reason=\"{}\"", status.intValue(), info.summary());
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", info.summary());
        err.put("type", "invalid_request_error");
        err.putNull("param");
        err.put("code", code(status.intValue()));
        return HttpResponse.create().withStatus(status).withEntity(ContentTypes.APPLICATION_JSON, root.toString());
    }

    private static String code(int status) {
        return switch (status) {
            case 414 -> "uri_too_long";
            case 431 -> "headers_too_large";
            case 501 -> "method_not_implemented";
            case 505 -> "http_version_not_supported";
            case 413 -> "request_too_large";
            default -> "malformed_request";
        };
    }
}
