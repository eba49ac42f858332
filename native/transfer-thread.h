// The engine Berth's socket-transfer modules share (sendfile.c sends blobs, receive.c
// takes upload bodies): one thread per Node environment that drives any number of
// transfers between a socket and a file, with an epoll set of its own.
//
// Why a thread of its own and not libuv's pool: a slow client would hold a pool thread
// for as long as it takes, and the pool also serves every file operation. Here a transfer
// that would block simply waits for its socket to be ready again (edge-triggered), and
// thousands of them cost one thread. Transfers take turns of a few MiB each.
//
// Both descriptors are dup()ed on submission, so neither can be closed (and its number
// reused for something else) while the thread still uses it: the transfer owns its own
// references and closes them when it ends. Each ending is reported to JavaScript through
// a thread-safe function: done(id, errno, bytesMoved).
#ifndef BERTH_TRANSFER_THREAD_H
#define BERTH_TRANSFER_THREAD_H

#define _GNU_SOURCE
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct transfer {
  uint32_t id;
  int sock;
  int file;
  off_t offset;
  int64_t remaining;
  int64_t moved;  // bytes sent or received so far
  int64_t stall_ms;
  int64_t last_progress;
  int ready;   // the socket can move bytes now: set by epoll, cleared by the pump on EAGAIN
  void *data;  // the module's own state for this transfer, handed to its settle()
  struct transfer *next;
} transfer_t;

typedef struct engine engine_t;

typedef struct {
  const char *thread_name;
  // What the socket waits for (EPOLLOUT to send, EPOLLIN to receive); EPOLLET is added.
  uint32_t events;
  // Bytes of scratch memory the thread gets (engine_t.scratch), 0 for none.
  size_t scratch_bytes;
  // Moves bytes for one turn and calls engine_finish() when the transfer ends; returns 1
  // when it could go on at once (its socket still ready), 0 otherwise.
  int (*pump)(engine_t *e, transfer_t *t);
  // On the JavaScript thread, before done() is called: releases what `data` holds. May be NULL.
  void (*settle)(napi_env env, void *data);
} transfer_kind_t;

struct engine {
  const transfer_kind_t *kind;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t lock;
  int epfd;
  int wakefd;
  // Under lock: transfers submitted and not yet taken by the thread, ids to cancel, stop flag.
  transfer_t *submitted;
  uint32_t *cancels;
  size_t ncancels;
  size_t cancel_cap;
  int stopping;
  // The transfer thread only.
  transfer_t *active;
  void *scratch;
  napi_threadsafe_function done;
  uint32_t next_id;
};

int64_t now_ms(void);
napi_value throw_error(napi_env env, const char *message);
// The argument as an int64; clears *ok when it is not a number.
int64_t int64_arg(napi_env env, napi_value value, int *ok);

// Creates the environment's engine (instance data); registers its cleanup. NULL with an exception pending on failure.
engine_t *engine_init(napi_env env, const transfer_kind_t *kind);
engine_t *engine_of(napi_env env);
// start(done): starts the thread. Exported by each module as is.
napi_value engine_start(napi_env env, napi_callback_info info);
// cancel(id): ends a transfer early with ECANCELED (its done callback still runs). Exported as is.
napi_value engine_cancel(napi_env env, napi_callback_info info);
// A new transfer over duplicates of the two descriptors; NULL with an exception pending on failure.
transfer_t *engine_new_transfer(napi_env env, engine_t *e, int64_t sock, int64_t file);
// Queues it for the thread and returns its id. Nothing of `t` may be read afterwards: it may end and be freed at once.
uint32_t engine_submit(engine_t *e, transfer_t *t);
// Thread only: ends a transfer (out of epoll, descriptors closed, result posted, freed).
void engine_finish(engine_t *e, transfer_t *t, int error);

#endif
