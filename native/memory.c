// Gives memory glibc's malloc holds free back to the system (malloc_trim(3)).
//
// Request bodies arrive as ~64 KiB buffers malloc'd on the event loop. Freed, they leave
// holes in malloc's heap that it keeps for reuse, so the process's resident size only
// ratchets up from one burst of pushes to the next. malloc_trim releases every whole free
// page; it runs on libuv's pool, off the event loop, and only when enough was freed since.
#define _GNU_SOURCE
#include <malloc.h>
#include <node_api.h>
#include <stdlib.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  size_t threshold;
  size_t free_before;
  int trimmed;
} trim_t;

// What the last look saw (one trim runs at a time: the JavaScript side never overlaps calls).
static size_t free_after_last_trim;
static size_t peak_in_use;

static void execute(napi_env env, void *data) {
  trim_t *t = data;
#if defined(__GLIBC__)
  struct mallinfo2 info = mallinfo2();
  if (info.uordblks > peak_in_use) peak_in_use = info.uordblks;
  // Trimmed pages stay counted as free (fordblks), so "a lot is free" alone would trim for ever:
  // trim when memory was freed since the last trim, seen as new free bytes or as a fall from a peak in use.
  int freed = info.fordblks >= free_after_last_trim + t->threshold || peak_in_use >= info.uordblks + t->threshold;
  if (freed) {
    t->free_before = info.fordblks;
    malloc_trim(0);
    t->trimmed = 1;
    struct mallinfo2 after = mallinfo2();
    free_after_last_trim = after.fordblks;
    peak_in_use = after.uordblks;
  }
#endif
}

static void complete(napi_env env, napi_status status, void *data) {
  trim_t *t = data;
  napi_value result;
  napi_create_double(env, t->trimmed ? (double)t->free_before : 0, &result);
  napi_resolve_deferred(env, t->deferred, result);
  napi_delete_async_work(env, t->work);
  free(t);
}

// trim(thresholdBytes) -> Promise<number>: trims when at least that much was freed since the last trim; resolves with the free bytes it found (0: not trimmed).
static napi_value trim(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], promise, name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double threshold = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &threshold) != napi_ok || threshold < 0) {
    napi_throw_type_error(env, NULL, "trim(thresholdBytes)");
    return NULL;
  }
  trim_t *t = calloc(1, sizeof *t);
  if (t == NULL) {
    napi_throw_error(env, NULL, "trim: out of memory");
    return NULL;
  }
  t->threshold = (size_t)threshold;
  napi_create_promise(env, &t->deferred, &promise);
  napi_create_string_utf8(env, "berth-malloc-trim", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, t, &t->work);
  napi_queue_async_work(env, t->work);
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {{"trim", NULL, trim, NULL, NULL, NULL, napi_default, NULL}};
  napi_define_properties(env, exports, 1, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
