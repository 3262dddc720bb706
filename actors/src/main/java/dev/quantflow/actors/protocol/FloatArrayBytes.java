package dev.quantflow.actors.protocol;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.module.SimpleModule;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Activations and logits (float[]) as one raw little-endian byte string instead of an array of
 * CBOR floats: 4 bytes a value, no per-element header. Listed in pekko.serialization.jackson.jackson-modules.
 */
public final class FloatArrayBytes extends SimpleModule {
    public FloatArrayBytes() {
        super("quantflow-float-array-bytes");
        addSerializer(float[].class, new Serializer());
        addDeserializer(float[].class, new Deserializer());
    }

    static byte[] encode(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return b.array();
    }

    static float[] decode(byte[] bytes) {
        if (bytes.length % Float.BYTES != 0) throw new IllegalArgumentException("a float array of " + bytes.length + " bytes");
        float[] values = new float[bytes.length / Float.BYTES];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }

    private static final class Serializer extends JsonSerializer<float[]> {
        @Override
        public void serialize(float[] value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
            gen.writeBinary(encode(value));
        }

        @Override
        public Class<float[]> handledType() {
            return float[].class;
        }
    }

    private static final class Deserializer extends JsonDeserializer<float[]> {
        @Override
        public float[] deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            return decode(p.getBinaryValue());
        }
    }
}
