@0xe41080d99fc54513;
# The data-plane message. Every ring record body is one Envelope in standard
# stream framing, single segment, unpacked, so any Cap'n Proto implementation
# can read it where it lies in the ring. Field order fixes the wire layout that
# the device-side view in kernels/ decodes; tests check both agree.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("rk::schema");

struct Envelope {
  kernel @0 :UInt32;        # kernel instance id the message is addressed to / came from
  type @1 :UInt32;          # application message type
  correlation @2 :UInt64;   # request/reply matching; echoed in replies
  hlcPhysical @3 :UInt64;   # hybrid logical clock: physical part, ns since epoch
  hlcLogical @4 :UInt32;    # hybrid logical clock: logical counter
  status @5 :UInt16;        # 0 = ok; otherwise an rk_status code (error replies)
  flags @6 :UInt16;         # see EnvelopeFlags in shm/envelope.h
  payload @7 :AnyPointer;   # Data for raw bytes, or a struct for typed payloads
}
