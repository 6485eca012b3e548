@0xc4e3eb5bf8e1ea85;
# Typed payloads of the built-in kernels.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("rk::schema");

struct SaxpyRequest {
  a @0 :Float32;
  x @1 :List(Float32);
  y @2 :List(Float32);
}

struct SaxpyReply {
  y @0 :List(Float32);   # a * x + y
}

struct ReduceSumRequest {
  values @0 :List(Float32);
}

struct ReduceSumReply {
  sum @0 :Float64;
}
