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
// Both descriptors are dup()ed on submission, as in sendfile.c: the transfer owns its
// references and closes them when it ends.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// One buffer for the whole thread: a transfer's bytes are hashed and written before the next recv.
#define BUFFER_BYTES (1024 * 1024)
// Bytes one transfer may take before the others get their turn.
#define TURN_BYTES (4 * 1024 * 1024)
// Writeback is started every this many bytes, so the fdatasync at commit has only the tail left.
#define WRITEBACK_BYTES (8 * 1024 * 1024)
// How often stalled transfers are looked for when nothing else happens.
#define TICK_MS 250

typedef struct {
  EVP_MD_CTX *ctx;
  int busy;  // JavaScript thread only: a receive is using ctx
} digest_t;

typedef struct transfer {
  uint32_t id;
  int sock;
  int file;
  off_t offset;
  off_t written_back;  // start of the bytes whose writeback has not been started
  int64_t remaining;
  int64_t received;
  digest_t *digest;
  napi_ref digest_ref;  // deleted on the JavaScript thread, in call_js
  int64_t stall_ms;
  int64_t last_progress;
  int readable;
  struct transfer *next;
} transfer_t;

typedef struct {
  uint32_t id;
  int error;
  int64_t received;
  digest_t *digest;
  napi_ref digest_ref;
} result_t;

typedef struct {
  pthread_t thread;
  int thread_started;
  pthread_mutex_t lock;
  int epfd;
  int wakefd;
  // Under lock: transfers submitted and not yet taken by the receiver, ids to cancel, stop flag.
  transfer_t *submitted;
  uint32_t *cancels;
  size_t ncancels;
  size_t cancel_cap;
  int stopping;
  // Receiver thread only.
  transfer_t *active;
  unsigned char *buffer;
  napi_threadsafe_function done;
  uint32_t next_id;
} receiver_t;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(receiver_t *r) {
  uint64_t one = 1;
  ssize_t ignored = write(r->wakefd, &one, sizeof one);
  (void)ignored;
}

// Ends a transfer: out of epoll, descriptors closed, result posted to JavaScript.
static void finish(receiver_t *r, transfer_t *t, int error) {
  epoll_ctl(r->epfd, EPOLL_CTL_DEL, t->sock, NULL);
  close(t->sock);
  close(t->file);
  for (transfer_t **p = &r->active; *p; p = &(*p)->next) {
    if (*p == t) {
      *p = t->next;
      break;
    }
  }
  result_t *res = malloc(sizeof *res);
  if (res) {
    res->id = t->id;
    res->error = error;
    res->received = t->received;
    res->digest = t->digest;
    res->digest_ref = t->digest_ref;
    // Without a callback (shutting down) the digest stays busy and referenced: the environment is going anyway.
    if (napi_call_threadsafe_function(r->done, res, napi_tsfn_nonblocking) != napi_ok) free(res);
  }
  free(t);
}

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

// Takes up to TURN_BYTES; returns 1 when the transfer could go on at once (still readable).
static int pump(receiver_t *r, transfer_t *t) {
  int64_t budget = TURN_BYTES;
  while (t->remaining > 0 && budget > 0) {
    size_t want = t->remaining < BUFFER_BYTES ? (size_t)t->remaining : BUFFER_BYTES;
    ssize_t n = recv(t->sock, r->buffer, want, 0);
    if (n > 0) {
      if (EVP_DigestUpdate(t->digest->ctx, r->buffer, (size_t)n) != 1) {
        finish(r, t, EIO);
        return 0;
      }
      int error = write_all(t->file, r->buffer, (size_t)n, t->offset);
      if (error) {
        finish(r, t, error);
        return 0;
      }
      t->offset += n;
      t->remaining -= n;
      t->received += n;
      budget -= n;
      t->last_progress = now_ms();
      if (t->offset - t->written_back >= WRITEBACK_BYTES) {
        sync_file_range(t->file, t->written_back, t->offset - t->written_back, SYNC_FILE_RANGE_WRITE);
        t->written_back = t->offset;
      }
    } else if (n == 0) {
      finish(r, t, ENODATA);  // the client ended its side before the whole body came
      return 0;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      t->readable = 0;  // edge-triggered: wait for more bytes
      return 0;
    } else {
      finish(r, t, errno);
      return 0;
    }
  }
  if (t->remaining == 0) {
    finish(r, t, 0);
    return 0;
  }
  return 1;
}

static void *run(void *arg) {
  receiver_t *r = arg;
  struct epoll_event events[64];
  int busy = 0;
  for (;;) {
    int n = epoll_wait(r->epfd, events, 64, busy ? 0 : TICK_MS);
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        uint64_t count;
        ssize_t ignored = read(r->wakefd, &count, sizeof count);
        (void)ignored;
      } else {
        ((transfer_t *)events[i].data.ptr)->readable = 1;
      }
    }

    pthread_mutex_lock(&r->lock);
    transfer_t *fresh = r->submitted;
    r->submitted = NULL;
    uint32_t *cancels = r->cancels;
    size_t ncancels = r->ncancels;
    r->cancels = NULL;
    r->ncancels = r->cancel_cap = 0;
    int stopping = r->stopping;
    pthread_mutex_unlock(&r->lock);

    while (fresh) {
      transfer_t *t = fresh;
      fresh = fresh->next;
      t->next = r->active;
      r->active = t;
      struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = t};
      if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, t->sock, &ev) != 0) finish(r, t, errno);
    }
    for (size_t i = 0; i < ncancels; i++) {
      for (transfer_t *t = r->active; t; t = t->next) {
        if (t->id == cancels[i]) {
          finish(r, t, ECANCELED);
          break;
        }
      }
    }
    free(cancels);
    if (stopping) {
      while (r->active) finish(r, r->active, ECANCELED);
      return NULL;
    }

    busy = 0;
    int64_t now = now_ms();
    for (transfer_t *t = r->active, *next; t; t = next) {
      next = t->next;  // t may be finished (freed) below
      if (t->readable) {
        busy |= pump(r, t);
      } else if (t->stall_ms > 0 && now - t->last_progress > t->stall_ms) {
        finish(r, t, ETIMEDOUT);
      }
    }
  }
}

// Runs on the JavaScript thread: releases the digest, then done(id, errno, bytesReceived).
static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  result_t *res = data;
  if (env != NULL) {
    res->digest->busy = 0;
    napi_delete_reference(env, res->digest_ref);
  }
  if (env != NULL && callback != NULL) {
    napi_value args[3], undefined;
    napi_create_uint32(env, res->id, &args[0]);
    napi_create_int32(env, res->error, &args[1]);
    napi_create_int64(env, res->received, &args[2]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, callback, 3, args, NULL);
  }
  free(res);
}

// Registered after the completion callback exists, so it runs before Node's own hook tears
// that callback down (cleanup hooks run in reverse order): see sendfile.c.
static void halt(void *arg) {
  receiver_t *r = arg;
  pthread_mutex_lock(&r->lock);
  r->stopping = 1;
  pthread_mutex_unlock(&r->lock);
  wake(r);
  pthread_join(r->thread, NULL);
  napi_release_threadsafe_function(r->done, napi_tsfn_abort);
}

// Registered first, so it runs last: frees what init made.
static void destroy(void *arg) {
  receiver_t *r = arg;
  if (r->epfd >= 0) close(r->epfd);
  if (r->wakefd >= 0) close(r->wakefd);
  free(r->cancels);
  free(r->buffer);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

static receiver_t *receiver_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

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

// start(done): starts the receiver thread; done(id, errno, bytesReceived) is called for every transfer that ends.
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  receiver_t *r = receiver_of(env);
  if (r == NULL) return throw_error(env, "receive: module not initialised");
  if (r->thread_started) return throw_error(env, "receive: already started");
  napi_valuetype type;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) return throw_error(env, "receive: start(done) needs a function");
  r->buffer = malloc(BUFFER_BYTES);
  if (r->buffer == NULL) return throw_error(env, "receive: out of memory");
  napi_value name;
  napi_create_string_utf8(env, "berth-receive", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &r->done) != napi_ok) {
    return throw_error(env, "receive: cannot create the completion callback");
  }
  // Open transfers keep their sockets, and so the process, alive; the receiver itself must not.
  napi_unref_threadsafe_function(env, r->done);
  if (pthread_create(&r->thread, NULL, run, r) != 0) {
    napi_release_threadsafe_function(r->done, napi_tsfn_abort);
    return throw_error(env, "receive: cannot start the receiver thread");
  }
  r->thread_started = 1;
  napi_add_env_cleanup_hook(env, halt, r);
  return NULL;
}

static int64_t int64_arg(napi_env env, napi_value value, int *ok) {
  int64_t out = 0;
  if (napi_get_value_int64(env, value, &out) != napi_ok) *ok = 0;
  return out;
}

// receive(socketFd, fileFd, offset, length, digest, stallMs) -> id. The descriptors are duplicated: the caller keeps its own.
static napi_value receive(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  digest_t *d = digest_arg(env, info, 4, argv, 6);
  if (d == NULL) return NULL;
  receiver_t *r = receiver_of(env);
  if (r == NULL || !r->thread_started) return throw_error(env, "receive: not started");
  int ok = 1;
  int64_t sock = int64_arg(env, argv[0], &ok), file = int64_arg(env, argv[1], &ok);
  int64_t offset = int64_arg(env, argv[2], &ok), length = int64_arg(env, argv[3], &ok), stall = int64_arg(env, argv[5], &ok);
  if (!ok || sock < 0 || file < 0 || offset < 0 || length <= 0 || stall < 0) return throw_error(env, "receive: invalid arguments");

  transfer_t *t = calloc(1, sizeof *t);
  if (t == NULL) return throw_error(env, "receive: out of memory");
  t->sock = fcntl((int)sock, F_DUPFD_CLOEXEC, 0);
  t->file = t->sock < 0 ? -1 : fcntl((int)file, F_DUPFD_CLOEXEC, 0);
  if (t->sock < 0 || t->file < 0) {
    if (t->sock >= 0) close(t->sock);
    free(t);
    return throw_error(env, "receive: cannot duplicate the descriptors");
  }
  if (napi_create_reference(env, argv[4], 1, &t->digest_ref) != napi_ok) {
    close(t->sock);
    close(t->file);
    free(t);
    return throw_error(env, "receive: cannot hold the digest");
  }
  d->busy = 1;
  // Read nothing of t once it is queued: the receiver may finish and free it at once.
  uint32_t id = t->id = ++r->next_id;
  t->digest = d;
  t->offset = t->written_back = (off_t)offset;
  t->remaining = length;
  t->stall_ms = stall;
  t->last_progress = now_ms();
  t->readable = 1;

  pthread_mutex_lock(&r->lock);
  t->next = r->submitted;
  r->submitted = t;
  pthread_mutex_unlock(&r->lock);
  wake(r);

  napi_value result;
  napi_create_uint32(env, id, &result);
  return result;
}

// cancel(id): ends a transfer early with ECANCELED (its done callback still runs).
static napi_value cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  receiver_t *r = receiver_of(env);
  uint32_t id;
  if (r == NULL || argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) return throw_error(env, "receive: cancel(id)");
  pthread_mutex_lock(&r->lock);
  if (r->ncancels == r->cancel_cap) {
    size_t cap = r->cancel_cap ? r->cancel_cap * 2 : 8;
    uint32_t *grown = realloc(r->cancels, cap * sizeof *grown);
    if (grown == NULL) {
      pthread_mutex_unlock(&r->lock);
      return throw_error(env, "receive: out of memory");
    }
    r->cancels = grown;
    r->cancel_cap = cap;
  }
  r->cancels[r->ncancels++] = id;
  pthread_mutex_unlock(&r->lock);
  wake(r);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  receiver_t *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_error(env, "receive: out of memory");
  pthread_mutex_init(&r->lock, NULL);
  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (r->epfd < 0 || r->wakefd < 0 || epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &ev) != 0) {
    destroy(r);
    return throw_error(env, "receive: cannot create the epoll set");
  }
  napi_set_instance_data(env, r, NULL, NULL);
  napi_add_env_cleanup_hook(env, destroy, r);

  napi_property_descriptor props[] = {
      {"sha256", NULL, sha256_new, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Update", NULL, sha256_update, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Copy", NULL, sha256_copy, NULL, NULL, NULL, napi_default, NULL},
      {"sha256Hex", NULL, sha256_hex, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"receive", NULL, receive, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, cancel, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
