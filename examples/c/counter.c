/* counter: a stateful persistent kernel. Each message adds a delta; the
 * kernel keeps the running total across messages. */
#include <ringkernel/ringkernel.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int check(rk_status s, const char *what) {
  if (s == RK_OK) return 0;
  fprintf(stderr, "%s: %s (%s)\n", what, rk_status_string(s), rk_last_error_message());
  return 1;
}

int main(int argc, char **argv) {
  rk_client *client = NULL;
  if (check(rk_connect(argc > 1 ? argv[1] : NULL, &client), "connect")) return 1;
  rk_kernel *counter = NULL;
  int rc = 1;
  if (check(rk_launch(client, "counter", NULL, &counter), "launch counter")) goto out;
  if (check(rk_activate(counter), "activate")) goto out;

  int64_t expected = 0, total = 0;
  for (int64_t delta = 1; delta <= 10; ++delta) {
    rk_message *reply = NULL;
    if (check(rk_call(counter, 0, &delta, sizeof delta, &reply, -1), "call")) goto out;
    size_t len = 0;
    const void *data = rk_message_data(reply, &len);
    if (len == sizeof total) memcpy(&total, data, sizeof total);
    rk_message_release(reply);
    expected += delta;
    printf("added %2lld -> total %lld\n", (long long)delta, (long long)total);
  }
  rc = total == expected ? 0 : 1;
  rk_metrics m;
  rk_metrics_init(&m);
  if (rk_kernel_metrics(counter, &m) == RK_OK)
    printf("kernel processed %llu messages, %llu errors, avg handler latency %llu ns\n",
           (unsigned long long)m.processed, (unsigned long long)m.errors, (unsigned long long)m.latency_avg_ns);
  check(rk_terminate(counter, -1), "terminate");
out:
  rk_kernel_release(counter);
  rk_disconnect(client);
  return rc;
}
