package dev.quantflow.actors.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import dev.quantflow.actors.api.EngineException;
import dev.quantflow.actors.api.EngineSnapshot;
import dev.quantflow.actors.api.GenerateRequest;
import dev.quantflow.actors.api.Prompt;
import dev.quantflow.engine.generate.GenerateOptions;
import dev.quantflow.engine.kv.KvFormat;
import dev.quantflow.engine.llama.BatchRows;
import dev.quantflow.engine.llama.LayerRange;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;
import org.apache.pekko.serialization.jackson.JacksonCborSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every message that may cross machines goes through Pekko's serializer for it (jackson-cbor, by
 * the CborSerializable binding) and comes back with equal content; the JVM-local ones say so.
 */
class ProtocolSerializationTest {
    static ActorTestKit kit;
    static Serialization serialization;

    @BeforeAll
    static void setUp() {
        kit = ActorTestKit.create();
        serialization = SerializationExtension.get(kit.system().classicSystem());
    }

    @AfterAll
    static void tearDown() {
        kit.shutdownTestKit();
    }

    static Step step() {
        BatchRows rows = new BatchRows(new int[] {1, 5, 9}, new int[] {0, 1, 0}, new int[][] {{3, 4}, {3, 4}, {7}});
        return new Step(42, 1, 3, rows, new int[] {1, 2}, new long[] {10, 11});
    }

    static float[] floats(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) Math.sin(i) * 1e3f;
        v[0] = Float.NaN;
        v[1] = Float.NEGATIVE_INFINITY;
        v[2] = -0.0f;
        v[3] = Float.MIN_VALUE;
        return v;
    }

    static Stream<Object> crossing() {
        ActorRef<StageCommand> stage = kit.<StageCommand>createTestProbe().ref();
        ActorRef<SamplerCommand> sampler = kit.<SamplerCommand>createTestProbe().ref();
        Map<String, Double> probes = new LinkedHashMap<>();
        probes.put("model.layers.1.mlp.down_proj", 0.25);
        probes.put("model.layers.0.mlp.down_proj", 0.0);
        return Stream.of(
                new StageCommand.Forward(step(), Activations.fp32(floats(96)), new long[] {5, 0}),
                new StageCommand.Forward(step(), Activations.bf16(floats(96)), new long[] {5, 0}),
                new StageCommand.Forward(step(), Activations.NONE, new long[2]),
                new StageCommand.Reset(7),
                new StageEvent.StageLoaded(1, 2, 1 << 20, 4096),
                new StageEvent.StageLoadFailed(0, "IllegalStateException: cuda:0 is not available"),
                new StageEvent.StageFailed(1, 19, "IllegalStateException: injected fault"),
                new StageEvent.StepDropped(1, 20),
                new StageEvent.StageProbes(0, probes),
                new SamplerCommand.SampleStep(step(), floats(2 * 512), new long[] {100, 200}),
                new SamplerCommand.End(3, "cancelled"),
                new SamplerCommand.Fail(3, EngineException.Kind.INTERNAL, "stage 1 failed while computing this request"),
                new StepSampled(42, List.of(new SampleOutcome.Next(10, 77), new SampleOutcome.Ended(11)), new long[] {1, 2}),
                new TokenizerCommand.Encode(9, new Prompt.Text("Once upon a time"), kit.<TokenizerCommand.EncodeResult>createTestProbe().ref()),
                new TokenizerCommand.Encode(9, new Prompt.Tokens(new int[] {1, 2, 3}), kit.<TokenizerCommand.EncodeResult>createTestProbe().ref()),
                new TokenizerCommand.Encode(9, new Prompt.Chat(List.of(new Prompt.ChatMessage("user", "Hi")), true),
                        kit.<TokenizerCommand.EncodeResult>createTestProbe().ref()),
                // an agent loop's history: the assistant's tool call, the tool's answer with its call id
                new TokenizerCommand.Encode(9, new Prompt.Chat(List.of(new Prompt.ChatMessage("user", "Weather?"),
                        new Prompt.ChatMessage("assistant", "", List.of(new Prompt.ToolCall("call_1", "get_weather", "{\"city\":\"Paris\"}")), "", ""),
                        new Prompt.ChatMessage("tool", "21", List.of(), "call_1", "get_weather")), true, "[]"),
                        kit.<TokenizerCommand.EncodeResult>createTestProbe().ref()),
                new TokenizerCommand.Encoded(9, new int[] {1, 400, 52}),
                new TokenizerCommand.EncodeRejected(9, new EngineException(EngineException.Kind.INVALID_REQUEST, "the prompt is empty")),
                new SchedulerCommand.StreamClosed(9),
                new SchedulerCommand.Cancel("req-1", kit.<Boolean>createTestProbe().ref()),
                new SchedulerCommand.GetSnapshot(kit.<EngineSnapshot>createTestProbe().ref()),
                new SchedulerCommand.Drain(),
                new StageSpec(new LayerRange(1, 3, 5, "cpu"), 2, "/models/stories260K", 128, 16, 512, 0, "llm-int8:threshold=6.0", KvFormat.INT8, Activations.Format.BF16),
                new StageDownstream.NextStage(stage),
                new StageDownstream.ToSampler(sampler),
                // the cluster's: a downstream inside a message is polymorphic and must keep its type
                new StageCommand.Rewire(new StageDownstream.NextStage(stage)),
                new StageCommand.Quiesce(kit.<StageCommand.Quiesced>createTestProbe().ref()),
                new StageCommand.Quiesced(1),
                new StageHostCommand.HostStage(new StageSpec(new LayerRange(1, 3, 5, "cpu"), 2, "/models/stories260K", 128, 16, 512, 0, "fp32", KvFormat.F32, Activations.Format.FP32),
                        new StageDownstream.ToSampler(sampler), kit.<StageEvent>createTestProbe().ref(), kit.<StageHostCommand.StageHosted>createTestProbe().ref()),
                new StageHostCommand.StageHosted(1, stage, "pekko://quantflow-server@10.0.0.7:25520"),
                new SchedulerCommand.StageAttached(1, stage),
                new SchedulerCommand.StageLost(1, "its stage node is unreachable"));
    }

    @ParameterizedTest
    @MethodSource("crossing")
    void roundTripsThroughJacksonCbor(Object message) {
        assertThat(serialization.findSerializerFor(message)).isInstanceOf(JacksonCborSerializer.class);
        byte[] bytes = serialization.serialize(message).get();
        var serializer = serialization.findSerializerFor(message);
        Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, message)).get();
        assertThat(back).isInstanceOf(message.getClass());
        assertThat(back).usingRecursiveComparison()
                .withEqualsForType((a, b) -> a.equals(b), ActorRef.class)
                .withEqualsForType((a, b) -> Float.floatToRawIntBits(a) == Float.floatToRawIntBits(b), Float.class)   // bit for bit, NaN too
                .isEqualTo(message);
        assertThat(serialization.serialize(back).get()).as("the same bytes again").isEqualTo(bytes);
    }

    @Test
    void activationsTravelAsRawBytes() {
        float[] hidden = floats(4096);
        byte[] bytes = serialization.serialize(new StageCommand.Forward(step(), Activations.fp32(hidden), new long[2])).get();
        // 4 bytes a value plus the step: CBOR floats would take at least 5 a value
        assertThat(bytes.length).isBetween(hidden.length * Float.BYTES, hidden.length * Float.BYTES + 300);
        var back = (StageCommand.Forward) serialization.deserialize(bytes, StageCommand.Forward.class).get();
        float[] values = back.hidden().toFloats();
        for (int i = 0; i < hidden.length; i++)
            assertThat(Float.floatToRawIntBits(values[i])).as("value %d bit for bit", i).isEqualTo(Float.floatToRawIntBits(hidden[i]));

        // bf16: 2 bytes a value, the values the sender rounded, bit for bit
        Activations bf16 = Activations.bf16(hidden);
        byte[] half = serialization.serialize(new StageCommand.Forward(step(), bf16, new long[2])).get();
        assertThat(half.length).isBetween(hidden.length * 2, hidden.length * 2 + 300);
        var backHalf = (StageCommand.Forward) serialization.deserialize(half, StageCommand.Forward.class).get();
        assertThat(backHalf.hidden().format()).isEqualTo(Activations.Format.BF16);
        assertThat(backHalf.hidden().toFloats()).isEqualTo(bf16.toFloats());
    }

    @Test
    void messagesWithJvmLocalObjectsAreMarkedLocal() {
        GenerateRequest request = new GenerateRequest("r", new Prompt.Text("Once"), GenerateOptions.greedy(4));
        List<Object> local = List.of(
                new SchedulerCommand.Submit(1, request, null),
                new SchedulerCommand.WhenIdle(new CompletableFuture<>()),
                new SchedulerCommand.Start(new SchedulerCommand.Pipeline(null, List.of(), null)),
                new SchedulerCommand.Ports(null, null, null),
                new SamplerCommand.Register(1, "r", null, GenerateOptions.greedy(4), new int[] {1}, 512, -1));
        for (Object m : local) {
            assertThat(m).as(m.getClass().getSimpleName()).isInstanceOf(NoSerializationVerificationNeeded.class);
            assertThat(m).as(m.getClass().getSimpleName()).isNotInstanceOf(CborSerializable.class);
        }
    }
}
