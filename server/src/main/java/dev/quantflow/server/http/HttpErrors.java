package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.server.api.ApiError;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;

/** OpenAI's error body {"error": {"message", "type", "param", "code"}} with the matching status and headers. */
final class HttpErrors {
    private HttpErrors() {}

    static ObjectNode body(ApiError e) {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", e.message());
        err.put("type", e.kind().openAiType);
        err.put("param", e.param().orElse(null));
        err.put("code", e.code().orElse(null));
        return root;
    }

    static HttpResponse response(ApiError e, long retryAfterSeconds) {
        List<HttpHeader> headers = new ArrayList<>();
        switch (e.kind()) {
            case OVERLOADED, UNAVAILABLE -> headers.add(RawHeader.create("Retry-After", Long.toString(retryAfterSeconds)));
            case UNAUTHENTICATED -> headers.add(RawHeader.create("WWW-Authenticate", "Bearer"));
            default -> {}
        }
        return HttpResponse.create()
                .withStatus(StatusCodes.get(e.kind().httpStatus))
                .withHeaders(headers)
                .withEntity(ContentTypes.APPLICATION_JSON, body(e).toString());
    }
}
