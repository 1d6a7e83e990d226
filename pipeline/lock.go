package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// A work dir holds one run at a time. Two runs in one work dir would clear
// and overwrite each other's snapshots, and both might report success. The
// lock is a file, lock.json, written with the file system's ordinary
// writes, so it works on local disks and on object stores alike: a run
// writes its own random owner id, waits a moment, and reads the file back;
// whoever's id is there holds the lock. The holder renews it every
// lockBeat. A lock whose holder is gone is taken over: at once when it was
// held by a process of this host that no longer exists (a kill -9), and
// otherwise once it has not been renewed for lockStale.

// LockName is the lock file in a work dir.
const LockName = "lock.json"

// Lock timing. lockStale is many beats, so a busy machine's late renewal
// is never taken for a dead holder. Between writing the lock and reading
// it back a run waits lockSettle, longer than two runs' read-then-write
// gap; a local disk shows a write at once, an object store may not. Should
// two runs still both see their own id, the heartbeat finds the loser out
// at its next beat and it stops before its next pass.
var (
	lockBeat        = 10 * time.Second
	lockStale       = 2 * time.Minute
	lockSettle      = time.Second
	lockSettleLocal = 50 * time.Millisecond
)

// lockInfo is lock.json.
type lockInfo struct {
	Owner     string    `json:"owner"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
}

// ErrLocked is what Train and RunPredict return when another run holds
// the work dir.
var ErrLocked = errors.New("work dir is in use")

// LockedError names the run that holds a work dir.
type LockedError struct {
	Dir    string
	Holder lockInfo
}

func (e *LockedError) Error() string {
	h := e.Holder
	return fmt.Sprintf("%s is in use by another dpmr run (pid %d on %s, started %s, lock renewed %s ago); wait for it to end or give another --workdir. A run that was killed leaves a lock that is taken over once it is %s old",
		e.Dir, h.PID, h.Host, h.Started.UTC().Format(time.RFC3339), time.Since(h.Heartbeat).Round(time.Second), lockStale)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// WorkLock is a held work dir lock. Release it when the run ends.
type WorkLock struct {
	dir  string
	path string
	me   lockInfo
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	lost error
}

// claimDirs readies a run's output and work dirs before any work: both
// writable, the work dir locked for this run.
func claimDirs(ctx context.Context, output, work string) (*WorkLock, error) {
	if err := checkWritableDir(ctx, "--output", output); err != nil {
		return nil, err
	}
	if err := checkWritableDir(ctx, "--workdir", work); err != nil {
		return nil, err
	}
	return AcquireLock(ctx, work)
}

// AcquireLock takes dir's lock, or returns a *LockedError naming the run
// that holds it.
func AcquireLock(ctx context.Context, dir string) (*WorkLock, error) {
	path := joinPath(dir, LockName)
	if held, ok := readLock(ctx, path); ok && !held.stale(time.Now()) {
		return nil, &LockedError{Dir: dir, Holder: held}
	}
	host, _ := os.Hostname()
	id := make([]byte, 16)
	rand.Read(id)
	now := time.Now()
	l := &WorkLock{dir: dir, path: path, stop: make(chan struct{}), done: make(chan struct{}),
		me: lockInfo{Owner: hex.EncodeToString(id), Host: host, PID: os.Getpid(), Started: now, Heartbeat: now}}
	if err := l.write(ctx); err != nil {
		return nil, fmt.Errorf("locking %s: %v", dir, err)
	}
	if strings.Contains(dir, "://") {
		time.Sleep(lockSettle)
	} else {
		time.Sleep(lockSettleLocal)
	}
	held, ok := readLock(ctx, path)
	if !ok {
		return nil, fmt.Errorf("locking %s: %s does not read back", dir, path)
	}
	if held.Owner != l.me.Owner {
		return nil, &LockedError{Dir: dir, Holder: held}
	}
	go l.renew()
	return l, nil
}

// readLock reads a lock file; ok is false when there is none, or one that
// does not decode (a write cut short), which holds nothing.
func readLock(ctx context.Context, path string) (lockInfo, bool) {
	var h lockInfo
	data, err := readFile(ctx, path)
	if err != nil || json.Unmarshal(data, &h) != nil || h.Owner == "" {
		return lockInfo{}, false
	}
	return h, true
}

// stale tells whether the lock's holder is gone.
func (h lockInfo) stale(now time.Time) bool {
	if host, _ := os.Hostname(); h.Host == host && h.PID > 0 && !processAlive(h.PID) {
		return true
	}
	return now.Sub(h.Heartbeat) > lockStale
}

func (l *WorkLock) write(ctx context.Context) error {
	data, _ := json.MarshalIndent(l.me, "", "  ")
	return writeFile(ctx, l.path, append(data, '\n'))
}

// renew rewrites the heartbeat every lockBeat until Release, and notes a
// lock that another run has taken over.
func (l *WorkLock) renew() {
	defer close(l.done)
	t := time.NewTicker(lockBeat)
	defer t.Stop()
	ctx := context.Background()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if held, ok := readLock(ctx, l.path); ok && held.Owner != l.me.Owner {
			l.fail(&LockedError{Dir: l.dir, Holder: held})
			return
		}
		l.me.Heartbeat = time.Now()
		if err := l.write(ctx); err != nil {
			l.fail(fmt.Errorf("renewing the lock %s: %v", l.path, err))
			return
		}
	}
}

func (l *WorkLock) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost = err
}

// Err is nil while the lock is held, and says why once it is not: the
// run must stop, since another may now be writing the work dir.
func (l *WorkLock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return fmt.Errorf("lost the work dir lock: %w", l.lost)
	}
	return nil
}

// Release stops renewing the lock and removes it if it is still this
// run's.
func (l *WorkLock) Release() error {
	close(l.stop)
	<-l.done
	ctx := context.Background()
	if held, ok := readLock(ctx, l.path); ok && held.Owner == l.me.Owner {
		return removeFile(ctx, l.path)
	}
	return nil
}
