// Zero-copy blob sends for Berth: sendfile(2) from a blob file to a client socket, on the
// shared transfer thread (transfer-thread.h): the kernel moves the bytes from the page
// cache to the socket, and the event loop only starts and finishes each send.
#include "transfer-thread.h"  // first: it defines _GNU_SOURCE

#include <errno.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>

// Bytes one transfer may send before the others get their turn.
#define TURN_BYTES (4 * 1024 * 1024)
// Largest single sendfile(2) call Linux accepts.
#define MAX_CALL 0x7ffff000

static int pump(engine_t *e, transfer_t *t) {
  int64_t budget = TURN_BYTES;
  while (t->remaining > 0 && budget > 0) {
    int64_t want = t->remaining < budget ? t->remaining : budget;
    if (want > MAX_CALL) want = MAX_CALL;
    ssize_t n = sendfile(t->sock, t->file, &t->offset, (size_t)want);
    if (n > 0) {
      t->remaining -= n;
      t->moved += n;
      budget -= n;
      t->last_progress = now_ms();
    } else if (n == 0) {
      engine_finish(e, t, ENODATA);  // the file is shorter than the range asked for
      return 0;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      t->ready = 0;  // edge-triggered: wait for the socket to drain
      return 0;
    } else {
      engine_finish(e, t, errno);
      return 0;
    }
  }
  if (t->remaining == 0) {
    engine_finish(e, t, 0);
    return 0;
  }
  return 1;
}

static const transfer_kind_t SENDS = {.thread_name = "berth-sendfile", .events = EPOLLOUT, .scratch_bytes = 0, .pump = pump, .settle = NULL};

// send(socketFd, fileFd, offset, length, stallMs) -> id. The descriptors are duplicated: the caller keeps its own.
static napi_value send_file(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return throw_error(env, "sendfile: send(socketFd, fileFd, offset, length, stallMs)");
  int ok = 1;
  int64_t sock = int64_arg(env, argv[0], &ok), file = int64_arg(env, argv[1], &ok);
  int64_t offset = int64_arg(env, argv[2], &ok), length = int64_arg(env, argv[3], &ok), stall = int64_arg(env, argv[4], &ok);
  if (!ok || sock < 0 || file < 0 || offset < 0 || length <= 0 || stall < 0) return throw_error(env, "sendfile: invalid arguments");
  engine_t *e = engine_of(env);
  transfer_t *t = engine_new_transfer(env, e, sock, file);
  if (t == NULL) return NULL;
  t->offset = (off_t)offset;
  t->remaining = length;
  t->stall_ms = stall;
  napi_value result;
  napi_create_uint32(env, engine_submit(e, t), &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  if (engine_init(env, &SENDS) == NULL) return NULL;
  napi_property_descriptor props[] = {
      {"start", NULL, engine_start, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, send_file, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, engine_cancel, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
