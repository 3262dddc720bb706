package dev.quantflow.server.http;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quantflow.server.api.ApiError;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
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

    /**
     * An answer given before the request's body was read, sent once the body has been read and
     * dropped: an answer before the end of the body makes Pekko close the connection, which a
     * client still sending sees as a reset instead of the answer.
     */
    static CompletionStage<HttpResponse> afterBody(HttpRequest request, Materializer mat, HttpResponse response) {
        return request.discardEntityBytes(mat).completionStage().handle((done, err) -> response);
    }
}
