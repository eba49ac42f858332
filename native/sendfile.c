// Zero-copy blob sends for Berth: sendfile(2) from a blob file to a client socket,
// driven by one sender thread per Node environment with its own epoll set.
//
// Why a thread of its own and not libuv's pool: a slow client would hold a pool
// thread for as long as it takes to drain, and the pool also serves every file
// operation. Here a transfer that would block simply waits for its socket to be
// writable again, and thousands of them cost one thread.
//
// Both descriptors are dup()ed on submission, so neither can be closed (and its
// number reused for something else) while the sender still writes: the transfer
// owns its own references and closes them when it ends.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <time.h>
#include <unistd.h>

// Bytes one transfer may send before the others get their turn.
#define TURN_BYTES (4 * 1024 * 1024)
// Largest single sendfile(2) call Linux accepts.
#define MAX_CALL 0x7ffff000
// How often stalled transfers are looked for when nothing else happens.
#define TICK_MS 250

typedef struct transfer {
  uint32_t id;
  int sock;
  int file;
  off_t offset;
  int64_t remaining;
  int64_t sent;
  int64_t stall_ms;
  int64_t last_progress;
  int writable;
  struct transfer *next;
} transfer_t;

typedef struct {
  uint32_t id;
  int error;
  int64_t sent;
} result_t;

typedef struct {
  pthread_t thread;
  int thread_started;
  pthread_mutex_t lock;
  int epfd;
  int wakefd;
  // Under lock: transfers submitted and not yet taken by the sender, ids to cancel, stop flag.
  transfer_t *submitted;
  uint32_t *cancels;
  size_t ncancels;
  size_t cancel_cap;
  int stopping;
  // Sender thread only.
  transfer_t *active;
  napi_threadsafe_function done;
  uint32_t next_id;
} sender_t;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(sender_t *s) {
  uint64_t one = 1;
  ssize_t ignored = write(s->wakefd, &one, sizeof one);
  (void)ignored;
}

// Ends a transfer: out of epoll, descriptors closed, result posted to JavaScript.
static void finish(sender_t *s, transfer_t *t, int error) {
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, t->sock, NULL);
  close(t->sock);
  close(t->file);
  for (transfer_t **p = &s->active; *p; p = &(*p)->next) {
    if (*p == t) {
      *p = t->next;
      break;
    }
  }
  result_t *r = malloc(sizeof *r);
  if (r) {
    r->id = t->id;
    r->error = error;
    r->sent = t->sent;
    if (napi_call_threadsafe_function(s->done, r, napi_tsfn_nonblocking) != napi_ok) free(r);
  }
  free(t);
}

// Sends up to TURN_BYTES; returns 1 when the transfer could go on at once (still writable).
static int pump(sender_t *s, transfer_t *t) {
  int64_t budget = TURN_BYTES;
  while (t->remaining > 0 && budget > 0) {
    int64_t want = t->remaining < budget ? t->remaining : budget;
    if (want > MAX_CALL) want = MAX_CALL;
    ssize_t n = sendfile(t->sock, t->file, &t->offset, (size_t)want);
    if (n > 0) {
      t->remaining -= n;
      t->sent += n;
      budget -= n;
      t->last_progress = now_ms();
    } else if (n == 0) {
      finish(s, t, ENODATA);  // the file is shorter than the range asked for
      return 0;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      t->writable = 0;  // edge-triggered: wait for the socket to drain
      return 0;
    } else {
      finish(s, t, errno);
      return 0;
    }
  }
  if (t->remaining == 0) {
    finish(s, t, 0);
    return 0;
  }
  return 1;
}

static void *run(void *arg) {
  sender_t *s = arg;
  struct epoll_event events[64];
  int busy = 0;
  for (;;) {
    int n = epoll_wait(s->epfd, events, 64, busy ? 0 : TICK_MS);
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        uint64_t count;
        ssize_t ignored = read(s->wakefd, &count, sizeof count);
        (void)ignored;
      } else {
        ((transfer_t *)events[i].data.ptr)->writable = 1;
      }
    }

    pthread_mutex_lock(&s->lock);
    transfer_t *fresh = s->submitted;
    s->submitted = NULL;
    uint32_t *cancels = s->cancels;
    size_t ncancels = s->ncancels;
    s->cancels = NULL;
    s->ncancels = s->cancel_cap = 0;
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);

    while (fresh) {
      transfer_t *t = fresh;
      fresh = fresh->next;
      t->next = s->active;
      s->active = t;
      struct epoll_event ev = {.events = EPOLLOUT | EPOLLET, .data.ptr = t};
      if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, t->sock, &ev) != 0) finish(s, t, errno);
    }
    for (size_t i = 0; i < ncancels; i++) {
      for (transfer_t *t = s->active; t; t = t->next) {
        if (t->id == cancels[i]) {
          finish(s, t, ECANCELED);
          break;
        }
      }
    }
    free(cancels);
    if (stopping) {
      while (s->active) finish(s, s->active, ECANCELED);
      return NULL;
    }

    busy = 0;
    int64_t now = now_ms();
    for (transfer_t *t = s->active, *next; t; t = next) {
      next = t->next;  // t may be finished (freed) below
      if (t->writable) {
        busy |= pump(s, t);
      } else if (t->stall_ms > 0 && now - t->last_progress > t->stall_ms) {
        finish(s, t, ETIMEDOUT);
      }
    }
  }
}

// Runs on the JavaScript thread: done(id, errno, bytesSent).
static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  result_t *r = data;
  if (env != NULL && callback != NULL) {
    napi_value args[3], undefined;
    napi_create_uint32(env, r->id, &args[0]);
    napi_create_int32(env, r->error, &args[1]);
    napi_create_int64(env, r->sent, &args[2]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, callback, 3, args, NULL);
  }
  free(r);
}

// Cleanup hooks run in reverse order of registration. This one is registered after the
// completion callback exists, so it runs before Node's own hook tears that callback down:
// the thread is stopped and joined while what it calls is still valid.
static void halt(void *arg) {
  sender_t *s = arg;
  pthread_mutex_lock(&s->lock);
  s->stopping = 1;
  pthread_mutex_unlock(&s->lock);
  wake(s);
  pthread_join(s->thread, NULL);
  napi_release_threadsafe_function(s->done, napi_tsfn_abort);
}

// Registered first, so it runs last: frees what init made.
static void destroy(void *arg) {
  sender_t *s = arg;
  if (s->epfd >= 0) close(s->epfd);
  if (s->wakefd >= 0) close(s->wakefd);
  free(s->cancels);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

static sender_t *sender_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

// start(done): starts the sender thread; done(id, errno, bytesSent) is called for every transfer that ends.
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  sender_t *s = sender_of(env);
  if (s == NULL) return throw_error(env, "sendfile: module not initialised");
  if (s->thread_started) return throw_error(env, "sendfile: already started");
  napi_valuetype type;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) return throw_error(env, "sendfile: start(done) needs a function");
  napi_value name;
  napi_create_string_utf8(env, "berth-sendfile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &s->done) != napi_ok) {
    return throw_error(env, "sendfile: cannot create the completion callback");
  }
  // Open transfers keep their sockets, and so the process, alive; the sender itself must not.
  napi_unref_threadsafe_function(env, s->done);
  if (pthread_create(&s->thread, NULL, run, s) != 0) {
    napi_release_threadsafe_function(s->done, napi_tsfn_abort);
    return throw_error(env, "sendfile: cannot start the sender thread");
  }
  s->thread_started = 1;
  napi_add_env_cleanup_hook(env, halt, s);
  return NULL;
}

static int64_t int64_arg(napi_env env, napi_value value, int *ok) {
  int64_t out = 0;
  if (napi_get_value_int64(env, value, &out) != napi_ok) *ok = 0;
  return out;
}

// send(socketFd, fileFd, offset, length, stallMs) -> id. The descriptors are duplicated: the caller keeps its own.
static napi_value send_file(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  sender_t *s = sender_of(env);
  if (s == NULL || !s->thread_started) return throw_error(env, "sendfile: not started");
  if (argc < 5) return throw_error(env, "sendfile: send(socketFd, fileFd, offset, length, stallMs)");
  int ok = 1;
  int64_t sock = int64_arg(env, argv[0], &ok), file = int64_arg(env, argv[1], &ok);
  int64_t offset = int64_arg(env, argv[2], &ok), length = int64_arg(env, argv[3], &ok), stall = int64_arg(env, argv[4], &ok);
  if (!ok || sock < 0 || file < 0 || offset < 0 || length <= 0 || stall < 0) return throw_error(env, "sendfile: invalid arguments");

  transfer_t *t = calloc(1, sizeof *t);
  if (t == NULL) return throw_error(env, "sendfile: out of memory");
  t->sock = fcntl((int)sock, F_DUPFD_CLOEXEC, 0);
  t->file = t->sock < 0 ? -1 : fcntl((int)file, F_DUPFD_CLOEXEC, 0);
  if (t->sock < 0 || t->file < 0) {
    if (t->sock >= 0) close(t->sock);
    free(t);
    return throw_error(env, "sendfile: cannot duplicate the descriptors");
  }
  // Read nothing of t once it is queued: the sender may finish and free it at once.
  uint32_t id = t->id = ++s->next_id;
  t->offset = (off_t)offset;
  t->remaining = length;
  t->stall_ms = stall;
  t->last_progress = now_ms();
  t->writable = 1;

  pthread_mutex_lock(&s->lock);
  t->next = s->submitted;
  s->submitted = t;
  pthread_mutex_unlock(&s->lock);
  wake(s);

  napi_value result;
  napi_create_uint32(env, id, &result);
  return result;
}

// cancel(id): ends a transfer early with ECANCELED (its done callback still runs).
static napi_value cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  sender_t *s = sender_of(env);
  uint32_t id;
  if (s == NULL || argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) return throw_error(env, "sendfile: cancel(id)");
  pthread_mutex_lock(&s->lock);
  if (s->ncancels == s->cancel_cap) {
    size_t cap = s->cancel_cap ? s->cancel_cap * 2 : 8;
    uint32_t *grown = realloc(s->cancels, cap * sizeof *grown);
    if (grown == NULL) {
      pthread_mutex_unlock(&s->lock);
      return throw_error(env, "sendfile: out of memory");
    }
    s->cancels = grown;
    s->cancel_cap = cap;
  }
  s->cancels[s->ncancels++] = id;
  pthread_mutex_unlock(&s->lock);
  wake(s);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  sender_t *s = calloc(1, sizeof *s);
  if (s == NULL) return throw_error(env, "sendfile: out of memory");
  pthread_mutex_init(&s->lock, NULL);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (s->epfd < 0 || s->wakefd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) != 0) {
    destroy(s);
    return throw_error(env, "sendfile: cannot create the epoll set");
  }
  napi_set_instance_data(env, s, NULL, NULL);
  napi_add_env_cleanup_hook(env, destroy, s);

  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, send_file, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, cancel, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
