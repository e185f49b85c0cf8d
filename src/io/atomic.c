/* Atomic file replacement (temporary file + fsync + rename), folder checks, and the small reading
 * helpers every loader shares: opening an input file with clear messages, exact reads, whole-file
 * reads and number formatting for messages. */
#include "io/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *format_thousands(uint64_t n, char buf[32]) {
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    int out = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

void *alloc_aligned_for_reading(size_t bytes) {
    void *p = NULL;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) return NULL;
#ifdef MADV_POPULATE_WRITE
    /* A hint only (Linux 5.14+): where it is unsupported the read faults pages in as usual. */
    if (rounded >= (64u << 20)) {
        uintptr_t page = 4096, start = ((uintptr_t)p + page - 1) & ~(page - 1);
        uintptr_t end = ((uintptr_t)p + rounded) & ~(page - 1);
        if (end > start) (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
    }
#endif
    return p;
}

/* Out-of-resource errors are the machine's problem (status 1); anything else about opening a
 * named file is the user's (status 2). */
static int open_failure_status(int error_number) {
    return error_number == ENOMEM || error_number == EMFILE || error_number == ENFILE ? EXIT_RUNTIME
                                                                                      : EXIT_BAD_INPUT;
}

int open_input_file(const char *path, FILE **file, uint64_t *size, Error *err) {
    *file = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return error_set(err, open_failure_status(errno), "%s: %s", path, strerror(errno));
    struct stat info;
    if (fstat(fileno(f), &info) != 0) {
        int saved = errno;
        fclose(f);
        return error_set(err, EXIT_RUNTIME, "%s: %s", path, strerror(saved));
    }
    if (S_ISDIR(info.st_mode)) {
        fclose(f);
        return error_set(err, EXIT_BAD_INPUT, "%s: is a folder, not a file", path);
    }
    *file = f;
    *size = info.st_size > 0 ? (uint64_t)info.st_size : 0;
    return 0;
}

int read_exact(FILE *file, void *data, size_t bytes, const char *path, Error *err) {
    size_t got = fread(data, 1, bytes, file);
    if (got == bytes) return 0;
    if (ferror(file)) return error_set(err, EXIT_RUNTIME, "%s: read failed: %s", path, strerror(errno));
    char want[32], have[32];
    return error_set(err, EXIT_BAD_INPUT, "%s: truncated: expected %s more bytes, found %s", path,
                     format_thousands(bytes, want), format_thousands(got, have));
}

int read_whole_file(const char *path, void **data, size_t *size, Error *err) {
    *data = NULL;
    *size = 0;
    FILE *f;
    uint64_t hint;
    if (open_input_file(path, &f, &hint, err)) return -1;
    /* The size from fstat is only a hint: pipes and /proc files report 0, so read until EOF. */
    size_t capacity = (size_t)hint + 1, used = 0;
    char *buffer = malloc(capacity);
    for (;;) {
        if (!buffer) {
            fclose(f);
            char bytes[32];
            return error_set(err, EXIT_RUNTIME, "%s: out of memory reading %s bytes", path,
                             format_thousands(capacity, bytes));
        }
        used += fread(buffer + used, 1, capacity - used, f);
        if (used < capacity) break;
        char *grown = realloc(buffer, capacity * 2);
        if (!grown) free(buffer);
        buffer = grown;
        capacity *= 2;
    }
    if (ferror(f)) {
        int saved = errno;
        free(buffer);
        fclose(f);
        return error_set(err, saved == EISDIR ? EXIT_BAD_INPUT : EXIT_RUNTIME, "%s: read failed: %s",
                         path, strerror(saved));
    }
    fclose(f);
    *data = buffer;
    *size = used;
    return 0;
}

/* The folder part of path ("." when there is none), for messages and for fsyncing the rename. */
static void folder_of(const char *path, char *folder, size_t capacity) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(folder, capacity, ".");
    } else if (slash == path) {
        snprintf(folder, capacity, "/");
    } else {
        snprintf(folder, capacity, "%.*s", (int)(slash - path), path);
    }
}

int atomic_open(AtomicFile *af, const char *path, Error *err) {
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->final_path)
        return error_set(err, EXIT_BAD_INPUT, "%.200s...: path too long", path);
    if (path[0] == '\0') return error_set(err, EXIT_BAD_INPUT, "empty output file name");
    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode))
        return error_set(err, EXIT_BAD_INPUT, "cannot write %s: it is a folder", path);
    snprintf(af->final_path, sizeof af->final_path, "%s", path);
    snprintf(af->temp_path, sizeof af->temp_path, "%s.tmp.%ld", path, (long)getpid());

    /* O_TRUNC rather than O_EXCL: a leftover temporary file can only come from an earlier process
     * with our pid that was killed, so it is ours to overwrite. */
    int fd = open(af->temp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int saved = errno;
        char folder[4096];
        folder_of(path, folder, sizeof folder);
        af->temp_path[0] = '\0';
        if (saved == ENOENT)
            return error_set(err, EXIT_BAD_INPUT, "cannot write %s: folder '%s' does not exist", path,
                             folder);
        if (saved == ENOTDIR)
            return error_set(err, EXIT_BAD_INPUT, "cannot write %s: '%s' is not a folder", path, folder);
        if (saved == EACCES || saved == EPERM || saved == EROFS)
            return error_set(err, EXIT_BAD_INPUT, "cannot write %s: folder '%s' is not writable (%s)",
                             path, folder, strerror(saved));
        return error_set(err, open_failure_status(saved), "cannot write %s: %s", path, strerror(saved));
    }
    af->file = fdopen(fd, "wb");
    if (!af->file) {
        int saved = errno;
        close(fd);
        unlink(af->temp_path);
        af->temp_path[0] = '\0';
        return error_set(err, EXIT_RUNTIME, "cannot write %s: %s", path, strerror(saved));
    }
    return 0;
}

void atomic_abort(AtomicFile *af) {
    if (af->file) fclose(af->file);
    af->file = NULL;
    if (af->temp_path[0]) unlink(af->temp_path);
    af->temp_path[0] = '\0';
}

/* Reports a failed write/flush/sync (errno still set by it) and removes the temporary file. */
static int fail_and_abort(AtomicFile *af, const char *what, Error *err) {
    int saved = errno;
    atomic_abort(af);
    return error_set(err, EXIT_RUNTIME, "cannot write %s: %s failed: %s", af->final_path, what,
                     strerror(saved));
}

int atomic_write(AtomicFile *af, const void *data, size_t bytes, Error *err) {
    if (!af->file) return error_set(err, EXIT_RUNTIME, "cannot write %s: file not open", af->final_path);
    if (bytes == 0) return 0;
    if (fwrite(data, 1, bytes, af->file) != bytes) return fail_and_abort(af, "write", err);
    return 0;
}

int atomic_commit(AtomicFile *af, Error *err) {
    if (!af->file) return error_set(err, EXIT_RUNTIME, "cannot write %s: file not open", af->final_path);
    if (fflush(af->file) != 0 || ferror(af->file)) return fail_and_abort(af, "write", err);
    /* fsync before rename: otherwise a crash can leave the new name pointing at empty data. */
    if (fsync(fileno(af->file)) != 0) return fail_and_abort(af, "fsync", err);
    FILE *file = af->file;
    af->file = NULL;
    if (fclose(file) != 0) return fail_and_abort(af, "close", err);
    if (rename(af->temp_path, af->final_path) != 0) return fail_and_abort(af, "rename", err);
    af->temp_path[0] = '\0';
    /* Make the rename itself durable. Best effort: some filesystems refuse fsync on folders, and
     * the new file is already complete and in place either way. */
    char folder[4096];
    folder_of(af->final_path, folder, sizeof folder);
    int dir_fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        (void)fsync(dir_fd);
        close(dir_fd);
    }
    return 0;
}

/* mkdir -p: creates each missing component of dir in turn. */
static int make_folders(const char *dir, Error *err) {
    char partial[4096];
    size_t len = strlen(dir);
    if (len >= sizeof partial) return error_set(err, EXIT_BAD_INPUT, "%.200s...: path too long", dir);
    memcpy(partial, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (partial[i] != '/' && partial[i] != '\0') continue;
        char saved = partial[i];
        partial[i] = '\0';
        if (mkdir(partial, 0777) != 0 && errno != EEXIST)
            return error_set(err, EXIT_BAD_INPUT, "cannot create folder '%s': %s", partial,
                             strerror(errno));
        partial[i] = saved;
    }
    return 0;
}

int ensure_writable_dir(const char *dir, int create, Error *err) {
    if (!dir || dir[0] == '\0') dir = ".";
    struct stat info;
    if (stat(dir, &info) != 0) {
        if (errno != ENOENT || !create)
            return error_set(err, EXIT_BAD_INPUT, "folder '%s': %s", dir, strerror(errno));
        if (make_folders(dir, err)) return -1;
        if (stat(dir, &info) != 0)
            return error_set(err, EXIT_BAD_INPUT, "folder '%s': %s", dir, strerror(errno));
    }
    if (!S_ISDIR(info.st_mode)) return error_set(err, EXIT_BAD_INPUT, "'%s' is not a folder", dir);
    /* Permission bits do not tell the whole story (read-only mounts, ACLs, root), so try it. */
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.cgpt-write-probe.%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return error_set(err, EXIT_BAD_INPUT, "folder '%s' is not writable: %s", dir, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}
