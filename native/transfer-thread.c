// The shared transfer engine: see transfer-thread.h.
#include "transfer-thread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

// How often stalled transfers are looked for when nothing else happens.
#define TICK_MS 250

typedef struct {
  uint32_t id;
  int error;
  int64_t moved;
  void *data;
  const transfer_kind_t *kind;
} result_t;

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

int64_t int64_arg(napi_env env, napi_value value, int *ok) {
  int64_t out = 0;
  if (napi_get_value_int64(env, value, &out) != napi_ok) *ok = 0;
  return out;
}

static void wake(engine_t *e) {
  uint64_t one = 1;
  ssize_t ignored = write(e->wakefd, &one, sizeof one);
  (void)ignored;
}

void engine_finish(engine_t *e, transfer_t *t, int error) {
  epoll_ctl(e->epfd, EPOLL_CTL_DEL, t->sock, NULL);
  close(t->sock);
  close(t->file);
  for (transfer_t **p = &e->active; *p; p = &(*p)->next) {
    if (*p == t) {
      *p = t->next;
      break;
    }
  }
  result_t *r = malloc(sizeof *r);
  if (r) {
    r->id = t->id;
    r->error = error;
    r->moved = t->moved;
    r->data = t->data;
    r->kind = e->kind;
    // Without a callback (shutting down) the module's data is not settled: the environment is going anyway.
    if (napi_call_threadsafe_function(e->done, r, napi_tsfn_nonblocking) != napi_ok) free(r);
  }
  free(t);
}

static void *run(void *arg) {
  engine_t *e = arg;
  struct epoll_event events[64];
  int busy = 0;
  for (;;) {
    int n = epoll_wait(e->epfd, events, 64, busy ? 0 : TICK_MS);
    for (int i = 0; i < n; i++) {
      if (events[i].data.ptr == NULL) {
        uint64_t count;
        ssize_t ignored = read(e->wakefd, &count, sizeof count);
        (void)ignored;
      } else {
        ((transfer_t *)events[i].data.ptr)->ready = 1;
      }
    }

    pthread_mutex_lock(&e->lock);
    transfer_t *fresh = e->submitted;
    e->submitted = NULL;
    uint32_t *cancels = e->cancels;
    size_t ncancels = e->ncancels;
    e->cancels = NULL;
    e->ncancels = e->cancel_cap = 0;
    int stopping = e->stopping;
    pthread_mutex_unlock(&e->lock);

    while (fresh) {
      transfer_t *t = fresh;
      fresh = fresh->next;
      t->next = e->active;
      e->active = t;
      struct epoll_event ev = {.events = e->kind->events | EPOLLET, .data.ptr = t};
      if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, t->sock, &ev) != 0) engine_finish(e, t, errno);
    }
    for (size_t i = 0; i < ncancels; i++) {
      for (transfer_t *t = e->active; t; t = t->next) {
        if (t->id == cancels[i]) {
          engine_finish(e, t, ECANCELED);
          break;
        }
      }
    }
    free(cancels);
    if (stopping) {
      while (e->active) engine_finish(e, e->active, ECANCELED);
      return NULL;
    }

    busy = 0;
    int64_t now = now_ms();
    for (transfer_t *t = e->active, *next; t; t = next) {
      next = t->next;  // t may be finished (freed) below
      if (t->ready) {
        busy |= e->kind->pump(e, t);
      } else if (t->stall_ms > 0 && now - t->last_progress > t->stall_ms) {
        engine_finish(e, t, ETIMEDOUT);
      }
    }
  }
}

// Runs on the JavaScript thread: the module settles its data, then done(id, errno, bytesMoved).
static void call_js(napi_env env, napi_value callback, void *context, void *data) {
  (void)context;
  result_t *r = data;
  if (env != NULL && r->kind->settle != NULL) r->kind->settle(env, r->data);
  if (env != NULL && callback != NULL) {
    napi_value args[3], undefined;
    napi_create_uint32(env, r->id, &args[0]);
    napi_create_int32(env, r->error, &args[1]);
    napi_create_int64(env, r->moved, &args[2]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, callback, 3, args, NULL);
  }
  free(r);
}

// Cleanup hooks run in reverse order of registration. This one is registered after the
// completion callback exists, so it runs before Node's own hook tears that callback down:
// the thread is stopped and joined while what it calls is still valid.
static void halt(void *arg) {
  engine_t *e = arg;
  pthread_mutex_lock(&e->lock);
  e->stopping = 1;
  pthread_mutex_unlock(&e->lock);
  wake(e);
  pthread_join(e->thread, NULL);
  napi_release_threadsafe_function(e->done, napi_tsfn_abort);
}

// Registered first, so it runs last: frees what engine_init and engine_start made.
static void destroy(void *arg) {
  engine_t *e = arg;
  if (e->epfd >= 0) close(e->epfd);
  if (e->wakefd >= 0) close(e->wakefd);
  free(e->cancels);
  free(e->scratch);
  pthread_mutex_destroy(&e->lock);
  free(e);
}

engine_t *engine_init(napi_env env, const transfer_kind_t *kind) {
  engine_t *e = calloc(1, sizeof *e);
  if (e == NULL) {
    throw_error(env, "out of memory");
    return NULL;
  }
  e->kind = kind;
  pthread_mutex_init(&e->lock, NULL);
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (e->epfd < 0 || e->wakefd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &ev) != 0) {
    destroy(e);
    throw_error(env, "cannot create the epoll set");
    return NULL;
  }
  napi_set_instance_data(env, e, NULL, NULL);
  napi_add_env_cleanup_hook(env, destroy, e);
  return e;
}

engine_t *engine_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

napi_value engine_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine_t *e = engine_of(env);
  if (e == NULL) return throw_error(env, "module not initialised");
  if (e->thread_started) return throw_error(env, "already started");
  napi_valuetype type;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) return throw_error(env, "start(done) needs a function");
  if (e->kind->scratch_bytes > 0 && e->scratch == NULL && (e->scratch = malloc(e->kind->scratch_bytes)) == NULL) return throw_error(env, "out of memory");
  napi_value name;
  napi_create_string_utf8(env, e->kind->thread_name, NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &e->done) != napi_ok) {
    return throw_error(env, "cannot create the completion callback");
  }
  // Open transfers keep their sockets, and so the process, alive; the thread itself must not.
  napi_unref_threadsafe_function(env, e->done);
  if (pthread_create(&e->thread, NULL, run, e) != 0) {
    napi_release_threadsafe_function(e->done, napi_tsfn_abort);
    return throw_error(env, "cannot start the transfer thread");
  }
  e->thread_started = 1;
  napi_add_env_cleanup_hook(env, halt, e);
  return NULL;
}

napi_value engine_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine_t *e = engine_of(env);
  uint32_t id;
  if (e == NULL || argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) return throw_error(env, "cancel(id)");
  pthread_mutex_lock(&e->lock);
  if (e->ncancels == e->cancel_cap) {
    size_t cap = e->cancel_cap ? e->cancel_cap * 2 : 8;
    uint32_t *grown = realloc(e->cancels, cap * sizeof *grown);
    if (grown == NULL) {
      pthread_mutex_unlock(&e->lock);
      return throw_error(env, "out of memory");
    }
    e->cancels = grown;
    e->cancel_cap = cap;
  }
  e->cancels[e->ncancels++] = id;
  pthread_mutex_unlock(&e->lock);
  wake(e);
  return NULL;
}

transfer_t *engine_new_transfer(napi_env env, engine_t *e, int64_t sock, int64_t file) {
  if (e == NULL || !e->thread_started) {
    throw_error(env, "not started");
    return NULL;
  }
  transfer_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    throw_error(env, "out of memory");
    return NULL;
  }
  t->sock = fcntl((int)sock, F_DUPFD_CLOEXEC, 0);
  t->file = t->sock < 0 ? -1 : fcntl((int)file, F_DUPFD_CLOEXEC, 0);
  if (t->sock < 0 || t->file < 0) {
    if (t->sock >= 0) close(t->sock);
    free(t);
    throw_error(env, "cannot duplicate the descriptors");
    return NULL;
  }
  t->last_progress = now_ms();
  t->ready = 1;
  return t;
}

uint32_t engine_submit(engine_t *e, transfer_t *t) {
  uint32_t id = t->id = ++e->next_id;
  pthread_mutex_lock(&e->lock);
  t->next = e->submitted;
  e->submitted = t;
  pthread_mutex_unlock(&e->lock);
  wake(e);
  return id;
}
