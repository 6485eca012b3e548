/* hello: launch a private echo kernel, call it, print the round trip. */
#include <ringkernel/ringkernel.h>
#include <stdio.h>
#include <string.h>

static int check(rk_status s, const char *what) {
  if (s == RK_OK) return 0;
  fprintf(stderr, "%s: %s (%s)\n", what, rk_status_string(s), rk_last_error_message());
  return 1;
}

int main(int argc, char **argv) {
  const char *socket_path = argc > 1 ? argv[1] : NULL; /* NULL: default or $RINGKERNEL_SOCKET */
  rk_client *client = NULL;
  if (check(rk_connect(socket_path, &client), "connect")) return 1;

  rk_kernel *echo = NULL;
  int rc = 1;
  if (check(rk_launch(client, "echo", NULL, &echo), "launch echo")) goto out;
  if (check(rk_activate(echo), "activate")) goto out;

  const char *text = "hello, ring";
  rk_message *reply = NULL;
  if (check(rk_call(echo, 1, text, strlen(text), &reply, -1), "call")) goto out;
  size_t len = 0;
  const char *data = rk_message_data(reply, &len);
  printf("echo replied %zu bytes: \"%.*s\" (correlation %llu)\n", len, (int)len, data,
         (unsigned long long)rk_message_correlation(reply));
  rc = memcmp(data, text, len) == 0 && len == strlen(text) ? 0 : 1;
  rk_message_release(reply);
  if (check(rk_terminate(echo, -1), "terminate")) rc = 1;
out:
  rk_kernel_release(echo);
  rk_disconnect(client);
  return rc;
}
