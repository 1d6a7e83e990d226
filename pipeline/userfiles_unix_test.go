//go:build unix

package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The work dir lock tells a dead process by its pid on unix only, and only
// unix has named pipes.

// TestWorkDirLock: a second run is refused while the first holds the
// lock; a lock left by a process that no longer exists, or not renewed
// for lockStale, is taken over; a run whose lock was taken over learns it
// at the next beat.
func TestWorkDirLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, err := AcquireLock(ctx, dir)
	require.NoError(t, err)
	_, err = AcquireLock(ctx, dir)
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, "is in use by another dpmr run")

	data := writeSynth(t, t.TempDir(), smallSynth)
	_, err = trainSmall(t, data, filepath.Join(dir, "m"), dir, 1, false)
	require.ErrorIs(t, err, ErrLocked)
	require.NoDirExists(t, filepath.Join(dir, "index"), "the refused run did work")
	require.NoError(t, first.Release())
	require.NoFileExists(t, filepath.Join(dir, LockName))

	// A kill -9 leaves a lock whose process is gone.
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	host, _ := os.Hostname()
	writeLock := func(h lockInfo) {
		b, err := json.Marshal(h)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, LockName), b, 0o644))
	}
	writeLock(lockInfo{Owner: "killed", Host: host, PID: dead.Process.Pid, Heartbeat: time.Now()})
	l, err := AcquireLock(ctx, dir)
	require.NoError(t, err, "a dead process's lock blocks")
	require.NoError(t, l.Release())

	// Another host's lock: held while renewed, taken over once stale.
	writeLock(lockInfo{Owner: "elsewhere", Host: host + "-other", PID: 1, Heartbeat: time.Now()})
	_, err = AcquireLock(ctx, dir)
	require.ErrorIs(t, err, ErrLocked)
	writeLock(lockInfo{Owner: "elsewhere", Host: host + "-other", PID: 1, Heartbeat: time.Now().Add(-lockStale - time.Second)})
	l, err = AcquireLock(ctx, dir)
	require.NoError(t, err, "a stale lock blocks")

	// Taken over behind the holder's back: the holder finds out.
	defer func(b time.Duration) { lockBeat = b }(lockBeat)
	require.NoError(t, l.Release())
	lockBeat = 20 * time.Millisecond
	l, err = AcquireLock(ctx, dir)
	require.NoError(t, err)
	require.NoError(t, l.Err())
	writeLock(lockInfo{Owner: "intruder", Host: host, PID: os.Getpid(), Heartbeat: time.Now()})
	require.Eventually(t, func() bool { return l.Err() != nil }, 5*time.Second, 10*time.Millisecond)
	require.ErrorIs(t, l.Err(), ErrLocked)
	require.NoError(t, l.Release())
	require.FileExists(t, filepath.Join(dir, LockName), "released the intruder's lock")
}

// TestNamedPipeInputIsRefused: a FIFO would hang the reader; it is refused
// by name before any work.
func TestNamedPipeInputIsRefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe.txt")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	done := make(chan error, 1)
	go func() {
		_, err := ExpandInputs(context.Background(), []string{fifo})
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "input "+fifo+" is not a regular file")
	case <-time.After(10 * time.Second):
		t.Fatal("ExpandInputs hangs on a named pipe")
	}
}
