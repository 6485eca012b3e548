@0xf0d57e3306e08b70;
# The control protocol between libringkernel and ringkerneld. One request or
# reply per SOCK_SEQPACKET packet, each a framed Cap'n Proto message. The
# connection is the session: closing it releases everything the session held.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("rk::schema");

enum Backend { auto @0; cpu @1; cuda @2; }

enum Transfer { auto @0; mapped @1; staged @2; }

enum KernelState {
  created @0; launched @1; active @2; deactivated @3;
  terminating @4; terminated @5; faulted @6;
}

struct Request {
  union {
    hello @0 :Hello;
    segmentMapped @1 :Void;          # client mapped the segment; server unlinks its name
    launch @2 :Launch;
    attach @3 :Attach;
    activate @4 :InstanceRef;
    deactivate @5 :InstanceRef;
    terminate @6 :Terminate;
    release @7 :InstanceRef;         # detach this session's channel
    status @8 :InstanceRef;
    metrics @9 :InstanceRef;
    list @10 :Void;
    serverInfo @11 :Void;
  }
}

struct Hello {
  abiVersion @0 :UInt32;
  protocolVersion @1 :UInt32;
  clientName @2 :Text;
}

struct Launch {
  kernel @0 :Text;                   # registered kernel name, e.g. "echo"
  instanceName @1 :Text;             # empty: private to the session
  backend @2 :Backend;
  grid @3 :UInt32;
  block @4 :UInt32;
  ringBytes @5 :UInt64;              # 0: server default
  device @6 :Int32 = -1;
  transfer @7 :Transfer;             # CUDA only; the CPU backend ignores it
}

struct Attach {
  instanceName @0 :Text;
}

struct InstanceRef {
  instanceId @0 :UInt32;
}

struct Terminate {
  instanceId @0 :UInt32;
  timeoutMs @1 :Int64 = -1;          # negative: server default (5 s)
}

struct Reply {
  status @0 :UInt16;                 # 0 = ok, else an rk_status code
  message @1 :Text;                  # human-readable detail when status != 0
  union {
    none @2 :Void;
    welcome @3 :Welcome;
    bound @4 :Bound;
    state @5 :KernelState;
    metrics @6 :Metrics;
    instances @7 :List(InstanceInfo);
    server @8 :ServerInfo;
  }
}

struct Welcome {
  abiVersion @0 :UInt32;
  protocolVersion @1 :UInt32;
  sessionId @2 :UInt64;
  segmentName @3 :Text;              # empty: the segment is the descriptor passed with this reply; map it, then send segmentMapped
  segmentBytes @4 :UInt64;
  serverVersion @5 :Text;
}

struct Bound {
  instanceId @0 :UInt32;
  channel @1 :UInt32;                # slot in the session segment's channel table
  state @2 :KernelState;
  backend @3 :Backend;
  device @4 :Int32;
  kernel @5 :Text;
}

struct Metrics {
  processed @0 :UInt64;
  errors @1 :UInt64;
  dropped @2 :UInt64;
  queueDepth @3 :UInt64;
  latencyMinNs @4 :UInt64;
  latencyAvgNs @5 :UInt64;
  latencyMaxNs @6 :UInt64;
  heartbeatNs @7 :UInt64;
  lastError @8 :UInt16;
  lastErrorMessage @9 :Text;
  state @10 :KernelState;
  channels @11 :UInt32;
  epoch @12 :UInt64;
}

struct InstanceInfo {
  instanceId @0 :UInt32;
  kernel @1 :Text;
  instanceName @2 :Text;
  state @3 :KernelState;
  backend @4 :Backend;
  device @5 :Int32;
  channels @6 :UInt32;
  processed @7 :UInt64;
  ownerSession @8 :UInt64;           # 0 for shared instances
}

struct ServerInfo {
  version @0 :Text;
  abiVersion @1 :UInt32;
  sessions @2 :UInt32;
  instances @3 :UInt32;
  backends @4 :List(Text);           # e.g. ["cpu"] or ["cpu", "cuda"]
  defaultBackend @5 :Text;
  pid @6 :Int32;
}
