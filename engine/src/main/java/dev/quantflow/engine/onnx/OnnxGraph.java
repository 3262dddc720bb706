package dev.quantflow.engine.onnx;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds one ONNX graph node by node: each op returns the name of its (fresh) output, initializers
 * are stored as raw little-endian data, small int64/float constants are shared by value.
 */
public final class OnnxGraph {
    public static final int IR_VERSION = 10;   // the IR that opset 21 belongs to (ONNX 1.16)
    public static final int OPSET = 21;

    private final GraphProto.Builder g = GraphProto.newBuilder();
    private final Map<String, String> constants = new HashMap<>();
    private int next;

    public OnnxGraph(String name) {
        g.setName(name);
    }

    /** One attribute of a node. */
    public record Attr(AttributeProto proto) {
        public static Attr i(String name, long v) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build());
        }

        public static Attr f(String name, float v) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build());
        }

        public static Attr ints(String name, long... v) {
            AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
            for (long x : v) b.addInts(x);
            return new Attr(b.build());
        }

        public static Attr tensor(String name, TensorProto t) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.TENSOR).setT(t).build());
        }
    }

    /** A node of op with one output; an input "" is an omitted optional input. */
    public String op(String op, List<Attr> attrs, String... inputs) {
        return ops(op, 1, attrs, inputs)[0];
    }

    public String op(String op, String... inputs) {
        return op(op, List.of(), inputs);
    }

    /** A node of op with outputs outputs. */
    public String[] ops(String op, int outputs, List<Attr> attrs, String... inputs) {
        int id = next++;
        String[] out = new String[outputs];
        for (int i = 0; i < outputs; i++) out[i] = op.toLowerCase() + "_" + id + (outputs > 1 ? "_" + i : "");
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(op + "_" + id).addAllInput(Arrays.asList(inputs)).addAllOutput(Arrays.asList(out));
        for (Attr a : attrs) n.addAttribute(a.proto());
        g.addNode(n);
        return out;
    }

    /** An initializer of raw little-endian data (dims outermost first). */
    public String initializer(String name, TensorProto.DataType type, long[] dims, byte[] raw) {
        g.addInitializer(tensor(name, type, dims, raw));
        return name;
    }

    public static TensorProto tensor(String name, TensorProto.DataType type, long[] dims, byte[] raw) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.getNumber()).setRawData(ByteString.copyFrom(raw));
        for (long d : dims) t.addDims(d);
        return t.build();
    }

    public String floats(String name, long[] dims, float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return initializer(name, TensorProto.DataType.FLOAT, dims, b.array());
    }

    /** A shared int64 1-D constant. */
    public String int64s(long... v) {
        return constants.computeIfAbsent("i64" + Arrays.toString(v), k -> {
            ByteBuffer b = ByteBuffer.allocate(8 * v.length).order(ByteOrder.LITTLE_ENDIAN);
            b.asLongBuffer().put(v);
            return initializer("const_" + constants.size(), TensorProto.DataType.INT64, new long[] {v.length}, b.array());
        });
    }

    /** A shared int64 scalar constant. */
    public String int64(long v) {
        return constants.computeIfAbsent("i64 " + v, k -> initializer("const_" + constants.size(), TensorProto.DataType.INT64, new long[0],
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array()));
    }

    /** A shared int8 scalar 0 (the zero point of symmetric codes). */
    public String int8Zero() {
        return constants.computeIfAbsent("i8 0", k -> initializer("const_" + constants.size(), TensorProto.DataType.INT8, new long[0], new byte[1]));
    }

    /** A shared float scalar constant. */
    public String scalar(float v) {
        return constants.computeIfAbsent("f32 " + Float.floatToRawIntBits(v), k -> floats("const_" + constants.size(), new long[0], new float[] {v}));
    }

    /** A graph input or output: dims are Long (fixed) or String (symbolic). */
    public void input(String name, TensorProto.DataType type, Object... dims) {
        g.addInput(valueInfo(name, type, dims));
    }

    public void output(String name, TensorProto.DataType type, Object... dims) {
        g.addOutput(valueInfo(name, type, dims));
    }

    private static ValueInfoProto valueInfo(String name, TensorProto.DataType type, Object... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder b = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String p) b.setDimParam(p);
            else b.setDimValue(((Number) d).longValue());
            s.addDim(b);
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(s))).build();
    }

    /** Renames the producer of value to name (for graph outputs), via Identity. */
    public void alias(String value, String name) {
        g.addNode(NodeProto.newBuilder().setOpType("Identity").setName("Identity_" + name).addInput(value).addOutput(name));
    }

    public int nodeCount() {
        return g.getNodeCount();
    }

    public ModelProto model(String producer, String doc, Map<String, String> metadata) {
        ModelProto.Builder m = ModelProto.newBuilder().setIrVersion(IR_VERSION).setProducerName(producer).setDocString(doc).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET));
        metadata.forEach((k, v) -> m.addMetadataProps(StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        return m.build();
    }
}
