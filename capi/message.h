// rk_message: a received reply that points into the reply ring until
// released, or a send reservation that points into the request ring until
// committed.
#pragma once
#include <cstdint>
#include <span>

#include "shm/envelope.h"

struct rk_kernel;

struct rk_message {
  enum class Kind : uint8_t { received, data_reservation, envelope_reservation };
  Kind kind = Kind::received;
  rk_kernel* kernel = nullptr;
  // received
  std::span<const std::byte> record;  // the whole framed envelope in the ring
  rk::shm::EnvelopeView view;
  uint64_t ring_end = 0;              // identifies its place in the ring for release
  // reservations
  std::span<std::byte> room;
};
