package dev.quantflow.actors.protocol;

/**
 * Marks a message that may cross machines: plain data (primitives, arrays, strings, lists,
 * ActorRefs), bound to Pekko's jackson-cbor serializer in reference.conf. Messages that hold
 * JVM-local objects (stream queues, futures) implement NoSerializationVerificationNeeded instead.
 */
public interface CborSerializable {}
