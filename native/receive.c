// Direct upload receives for Berth: a request body is read from the client's socket,
// hashed (SHA-256, OpenSSL's EVP, which uses the CPU's SHA extensions) and written into
// the upload's staging file by one receiver thread per Node environment, so no byte of
// it becomes a JavaScript buffer.
//
// Why: Node's HTTP parser copies every body chunk (<= 64 KiB) into an ArrayBuffer of its
// own, hashes and writes it on the event loop, and frees it only when V8 collects it. A
// push ran at a third of what one thread reading, hashing and writing manages, and the
// dead chunks were most of the server's resident memory under concurrent pushes.
//
// The running digest is an object of this module (sha256*), so a chunked upload's state
// carries from one request to the next whichever path each chunk took. While a receive
// uses a digest it is referenced from here and marked busy: JavaScript can neither
// collect it nor touch it until the completion callback has run.
//
// The thread, its epoll set, turns, stall timeouts and cancellation are the shared
// transfer engine's (transfer-thread.h); this file is what a receive does in its turn.
#include "transfer-thread.h"  // first: it defines _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

// One buffer for the whole thread (the engine's scratch): a transfer's bytes are hashed and written before the next recv.
#define BUFFER_BYTES (1024 * 1024)
// Bytes one transfer may take before the others get their turn.
#define TURN_BYTES (4 * 1024 * 1024)
// Writeback is started every this many bytes, so the fdatasync at commit has only the tail left.
#define WRITEBACK_BYTES (8 * 1024 * 1024)

typedef struct {
  EVP_MD_CTX *ctx;
  int busy;  // JavaScript thread only: a receive is using ctx
} digest_t;

// A receive's own state (transfer_t.data).
typedef struct {
  digest_t *digest;
  napi_ref digest_ref;  // deleted on the JavaScript thread, in settle()
  off_t written_back;   // start of the bytes whose writeback has not been started
  // Body bytes Node's parser had already read, taken first (a copy); NULL once written.
  unsigned char *prefix;
  size_t prefix_length;
} receive_t;

// ---- digests -------------------------------------------------------------------------

static void free_digest(napi_env env, void *data, void *hint) {
  digest_t *d = data;
  EVP_MD_CTX_free(d->ctx);
  free(d);
}

static napi_value wrap_digest(napi_env env, EVP_MD_CTX *ctx) {
  digest_t *d = calloc(1, sizeof *d);
  napi_value out;
  if (d == NULL) {
    EVP_MD_CTX_free(ctx);
    return throw_error(env, "receive: out of memory");
  }
  d->ctx = ctx;
  if (napi_create_external(env, d, free_digest, NULL, &out) != napi_ok) {
    free_digest(env, d, NULL);
    return throw_error(env, "receive: cannot create a digest");
  }
  return out;
}

// The digest behind argument `index`, or NULL (with an exception pending).
static digest_t *digest_arg(napi_env env, napi_callback_info info, size_t index, napi_value *argv, size_t count) {
  size_t argc = count;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  napi_valuetype type;
  if (argc <= index || napi_typeof(env, argv[index], &type) != napi_ok || type != napi_external || napi_get_value_external(env, argv[index], &data) != napi_ok) {
    throw_error(env, "receive: expected a digest");
    return NULL;
  }
  digest_t *d = data;
  if (d->busy) {
    throw_error(env, "receive: the digest is in use by a receive");
    return NULL;
  }
  return d;
}

// sha256() -> digest
static napi_value sha256_new(napi_env env, napi_callback_info info) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    return throw_error(env, "receive: cannot start a SHA-256 digest");
  }
  return wrap_digest(env, ctx);
}

// sha256Update(digest, bytes: Uint8Array)
static napi_value sha256_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  digest_t *d = digest_arg(env, info, 0, argv, 2);
  if (d == NULL) return NULL;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  bool is_typedarray = false;
  napi_is_typedarray(env, argv[1], &is_typedarray);
  if (!is_typedarray || napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    return throw_error(env, "receive: sha256Update(digest, bytes) needs a Uint8Array");
  }
  if (length > 0 && EVP_DigestUpdate(d->ctx, data, length) != 1) return throw_error(env, "receive: SHA-256 update failed");
  return NULL;
}

// sha256Copy(digest) -> digest: an independent copy of the running state.
static napi_value sha256_copy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  digest_t *d = digest_arg(env, info, 0, argv, 1);
  if (d == NULL) return NULL;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || EVP_MD_CTX_copy_ex(ctx, d->ctx) != 1) {
    EVP_MD_CTX_free(ctx);
    return throw_error(env, "receive: cannot copy a digest");
  }
  return wrap_digest(env, ctx);
}

// sha256Hex(digest) -> the hex digest of the bytes so far; the running state is left as it is.
static napi_value sha256_hex(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  digest_t *d = digest_arg(env, info, 0, argv, 1);
  if (d == NULL) return NULL;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  int ok = ctx != NULL && EVP_MD_CTX_copy_ex(ctx, d->ctx) == 1 && EVP_DigestFinal_ex(ctx, md, &length) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return throw_error(env, "receive: cannot finish a digest");
  static const char hex[] = "0123456789abcdef";
  char text[2 * EVP_MAX_MD_SIZE];
  for (unsigned int i = 0; i < length; i++) {
    text[2 * i] = hex[md[i] >> 4];
    text[2 * i + 1] = hex[md[i] & 15];
  }
  napi_value out;
  napi_create_string_latin1(env, text, 2 * length, &out);
  return out;
}

// ---- receives ------------------------------------------------------------------------

static int write_all(int fd, const unsigned char *data, size_t length, off_t offset) {
  while (length > 0) {
    ssize_t n = pwrite(fd, data, length, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    data += n;
    length -= (size_t)n;
    offset += n;
  }
  return 0;
}

// Hashes and writes `n` bytes at the transfer's offset; 0, or the errno that ended it (then it is finished).
static int take(engine_t *e, transfer_t *t, const unsigned char *bytes, size_t n) {
  receive_t *rc = t->data;
  if (EVP_DigestUpdate(rc->digest->ctx, bytes, n) != 1) {
    engine_finish(e, t, EIO);
    return EIO;
  }
  t->moved += n;  // received and hashed, as the caller is told even if the write below fails
  int error = write_all(t->file, bytes, n, t->offset);
  if (error) {
    engine_finish(e, t, error);
    return error;
  }
  t->offset += n;
  t->remaining -= n;
  t->last_progress = now_ms();
  if (t->offset - rc->written_back >= WRITEBACK_BYTES) {
    sync_file_range(t->file, rc->written_back, t->offset - rc->written_back, SYNC_FILE_RANGE_WRITE);
    rc->written_back = t->offset;
  }
  return 0;
}

static int pump(engine_t *e, transfer_t *t) {
  receive_t *rc = t->data;
  unsigned char *buffer = e->scratch;
  int64_t budget = TURN_BYTES;
  if (rc->prefix != NULL) {
    unsigned char *prefix = rc->prefix;
    rc->prefix = NULL;
    int error = take(e, t, prefix, rc->prefix_length);
    free(prefix);
    if (error) return 0;
  }
  while (t->remaining > 0 && budget > 0) {
    size_t want = t->remaining < BUFFER_BYTES ? (size_t)t->remaining : BUFFER_BYTES;
    // MSG_DONTWAIT: a socket handed over in blocking mode must not stall every other transfer.
    ssize_t n = recv(t->sock, buffer, want, MSG_DONTWAIT);
    if (n > 0) {
      if (take(e, t, buffer, (size_t)n)) return 0;
      budget -= n;
    } else if (n == 0) {
      engine_finish(e, t, ENODATA);  // the client ended its side before the whole body came
      return 0;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      t->ready = 0;  // edge-triggered: wait for more bytes
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

// On the JavaScript thread once a receive has ended: its digest is JavaScript's again.
static void settle(napi_env env, void *data) {
  receive_t *rc = data;
  rc->digest->busy = 0;
  napi_delete_reference(env, rc->digest_ref);
  free(rc->prefix);
  free(rc);
}

static const transfer_kind_t RECEIVES = {
    .thread_name = "berth-receive", .events = EPOLLIN | EPOLLRDHUP, .scratch_bytes = BUFFER_BYTES, .pump = pump, .settle = settle};

// receive(socketFd, fileFd, offset, length, digest, stallMs[, prefix]) -> id: `length` bytes of body, the first of
// them `prefix` (bytes already read from the socket), the rest read from it. The descriptors are duplicated: the
// caller keeps its own.
static napi_value receive(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  digest_t *d = digest_arg(env, info, 4, argv, 7);
  if (d == NULL) return NULL;
  int ok = 1;
  int64_t sock = int64_arg(env, argv[0], &ok), file = int64_arg(env, argv[1], &ok);
  int64_t offset = int64_arg(env, argv[2], &ok), length = int64_arg(env, argv[3], &ok), stall = int64_arg(env, argv[5], &ok);
  if (!ok || sock < 0 || file < 0 || offset < 0 || length <= 0 || stall < 0) return throw_error(env, "receive: invalid arguments");
  void *prefix = NULL;
  size_t prefix_length = 0;
  napi_valuetype prefix_type;
  napi_typeof(env, argv[6], &prefix_type);
  if (prefix_type != napi_undefined) {
    napi_typedarray_type type;
    bool is_typedarray = false;
    napi_is_typedarray(env, argv[6], &is_typedarray);
    if (!is_typedarray || napi_get_typedarray_info(env, argv[6], &type, &prefix_length, &prefix, NULL, NULL) != napi_ok || type != napi_uint8_array) {
      return throw_error(env, "receive: the prefix must be a Uint8Array");
    }
    if ((int64_t)prefix_length > length) return throw_error(env, "receive: the prefix is longer than the body");
  }
  receive_t *rc = calloc(1, sizeof *rc);
  if (rc == NULL) return throw_error(env, "receive: out of memory");
  if (prefix_length > 0) {
    rc->prefix = malloc(prefix_length);
    if (rc->prefix == NULL) {
      free(rc);
      return throw_error(env, "receive: out of memory");
    }
    memcpy(rc->prefix, prefix, prefix_length);
    rc->prefix_length = prefix_length;
  }
  if (napi_create_reference(env, argv[4], 1, &rc->digest_ref) != napi_ok) {
    free(rc->prefix);
    free(rc);
    return throw_error(env, "receive: cannot hold the digest");
  }
  engine_t *e = engine_of(env);
  transfer_t *t = engine_new_transfer(env, e, sock, file);
  if (t == NULL) {
    napi_delete_reference(env, rc->digest_ref);
    free(rc->prefix);
    free(rc);
    return NULL;
  }
  d->busy = 1;
  rc->digest = d;
  rc->written_back = (off_t)offset;
  t->data = rc;
  t->offset = (off_t)offset;
  t->remaining = length;
  t->stall_ms = stall;
  napi_value result;
  napi_create_uint32(env, engine_submit(e, t), &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  if (engine_init(env, &RECEIVES) == NULL) return NULL;
  napi_property_descriptor props[] = {
      {"sha256", NULL, sha256_new, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Update", NULL, sha256_update, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Copy", NULL, sha256_copy, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Hex", NULL, sha256_hex, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, engine_start, NULL, NULL, NULL, napi_default, NULL},
      {"receive", NULL, receive, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, engine_cancel, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
