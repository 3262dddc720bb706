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
 * Logits (float[]) and a hop's {@link Activations} as one raw little-endian byte string instead of
 * an array of CBOR numbers: 4 bytes a value (2 for bf16 activations), no per-element header or
 * boxing. Listed in pekko.serialization.jackson.jackson-modules.
 */
public final class FloatArrayBytes extends SimpleModule {
    public FloatArrayBytes() {
        super("quantflow-float-array-bytes");
        addSerializer(float[].class, new Serializer());
        addDeserializer(float[].class, new Deserializer());
        addSerializer(Activations.class, new ActivationsSerializer());
        addDeserializer(Activations.class, new ActivationsDeserializer());
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

    private static final class ActivationsSerializer extends JsonSerializer<Activations> {
        @Override
        public void serialize(Activations value, JsonGenerator gen, SerializerProvider serializers) throws IOException {
            gen.writeBinary(value.encode());
        }

        @Override
        public Class<Activations> handledType() {
            return Activations.class;
        }
    }

    private static final class ActivationsDeserializer extends JsonDeserializer<Activations> {
        @Override
        public Activations deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            return Activations.decode(p.getBinaryValue());
        }
    }
}
