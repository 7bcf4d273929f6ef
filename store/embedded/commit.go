package embedded

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// committer is group commit over one bbolt file. Every write of the driver
// is a function of a read-write transaction; the functions of concurrent
// callers run one after the other in one shared transaction, and its one
// commit (bbolt's two fdatasyncs) makes all of them durable. A caller is
// answered only after the commit that holds its write returned: a write
// whose commit failed is never acknowledged, and nor is a refusal (below)
// decided in a transaction that did not commit, since it may rest on
// another member's write that was lost with it.
//
// Batches are not held back for a timer (as bbolt's DB.Batch does, up to
// MaxBatchDelay): the first caller commits at once, alone, and the
// callers that arrive while a commit runs make up the next batch. So one
// writer waits for one commit, and many share each commit.
//
// A function that refuses (a condition that does not hold, an item that
// exists or is missing) returns refuse(err) before it writes anything:
// the batch goes on without it and it gets err once the batch committed.
// A function that fails otherwise may have written part of its change, so
// the transaction is rolled back, that function is run again alone (its
// error is then its own, whatever the others wrote) and the others are
// run again without it. Functions must therefore have no effect outside
// their transaction except on variables they set afresh on every run.
type committer struct {
	// update runs one read-write transaction: bolt.DB.Update. Tests replace
	// it to make commits fail.
	update func(func(*bolt.Tx) error) error

	mu      sync.Mutex
	queue   []*call
	leading bool // a goroutine commits; new calls wait for the next batch
	drains  sync.WaitGroup
	// flush commits posted calls that no later write carried along
	// (post); nil while none is scheduled.
	flush  *time.Timer
	delay  time.Duration // for post; 0 means postDelay
	closed bool          // close was called: post drops its writes
}

// postDelay is how long a posted write waits for a batch to join before
// it is committed on its own. Under load the next batch comes much
// sooner; an idle store commits posted writes a postDelay after them.
const postDelay = 20 * time.Millisecond

type call struct {
	fn   func(*bolt.Tx) error
	done chan error
	// after, if set, is called with the call's result once its batch is
	// done (committed or failed), before done is sent.
	after func(error)
}

// finish hands cl its result.
func (cl *call) finish(err error) {
	if cl.after != nil {
		cl.after(err)
	}
	cl.done <- err
}

// refusal marks an error that a write function returned before writing
// anything.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refuse marks err, returned by a write function before it wrote, as a
// refusal that leaves the rest of its batch alone.
func refuse(err error) error { return &refusal{err: err} }

// do runs fn in a read-write transaction, possibly shared with other
// callers' functions, and returns once that transaction committed (nil or
// fn's refusal) or failed (the error).
func (c *committer) do(fn func(*bolt.Tx) error) error {
	cl := &call{fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, cl)
	lead := !c.leading
	c.leading = true
	c.mu.Unlock()
	if lead {
		// The caller's own call is in the first batch, so it commits one
		// batch and hands whatever arrived meanwhile to a goroutine: its
		// own answer does not wait for the others' commits.
		c.commitNext()
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.leading = false
		} else {
			c.drains.Add(1)
			go c.drain()
		}
		c.mu.Unlock()
	}
	return <-cl.done
}

var errClosed = errors.New("embedded: closed")

// post queues fn for the next batch and returns without waiting for it:
// for writes nobody waits on (execution histories), which then share the
// commits of the writes somebody waits on instead of adding commits of
// their own. A posted write is committed within postDelay even if no
// other write comes; after gets its result.
func (c *committer) post(fn func(*bolt.Tx) error, after func(error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		after(errClosed)
		return
	}
	c.queue = append(c.queue, &call{fn: fn, done: make(chan error, 1), after: after})
	if !c.leading && c.flush == nil {
		d := c.delay
		if d <= 0 {
			d = postDelay
		}
		c.flush = time.AfterFunc(d, c.flushPosted)
	}
}

// flushPosted commits what waits in the queue unless a commit runs, whose
// goroutine takes it along.
func (c *committer) flushPosted() {
	c.mu.Lock()
	c.flush = nil
	if c.leading || len(c.queue) == 0 {
		c.mu.Unlock()
		return
	}
	c.leading = true
	c.drains.Add(1)
	c.mu.Unlock()
	go c.drain()
}

// sync returns once every write posted before it is committed (or
// failed): an empty write joins the queue, and batches commit in order,
// so its commit comes after theirs, also after one a goroutine has
// already taken from the queue and is committing.
func (c *committer) sync() {
	_ = c.do(func(*bolt.Tx) error { return nil })
}

// close commits what was posted and stops posting: the file is about to
// close.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	if c.flush != nil {
		c.flush.Stop()
		c.flush = nil
	}
	c.mu.Unlock()
	c.sync()
}

// drain commits batches until none waits.
func (c *committer) drain() {
	defer c.drains.Done()
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.leading = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.commitNext()
	}
}

// wait returns once no batch is being committed by a goroutine of the
// committer's own.
func (c *committer) wait() { c.drains.Wait() }

// commitNext takes every waiting call and commits them as one batch.
func (c *committer) commitNext() {
	c.mu.Lock()
	batch := c.queue
	c.queue = nil
	c.mu.Unlock()
	c.commit(batch)
}

func (c *committer) commit(batch []*call) {
	for len(batch) > 0 {
		results := make([]error, len(batch))
		failed := -1
		err := c.update(func(tx *bolt.Tx) error {
			for i, cl := range batch {
				err := safely(cl.fn, tx)
				if r, ok := err.(*refusal); ok {
					results[i] = r.err
					continue
				}
				if err != nil {
					failed = i
					return err
				}
				results[i] = nil
			}
			return nil
		})
		if failed >= 0 {
			cl := batch[failed]
			batch = slices.Delete(batch, failed, failed+1)
			cl.finish(c.solo(cl.fn))
			continue
		}
		for i, cl := range batch {
			if err != nil {
				// Nothing of this transaction is durable: no member may
				// take its result for an answer.
				cl.finish(err)
			} else {
				cl.finish(results[i])
			}
		}
		return
	}
}

// solo runs fn in a transaction of its own.
func (c *committer) solo(fn func(*bolt.Tx) error) error {
	err := c.update(func(tx *bolt.Tx) error { return safely(fn, tx) })
	var r *refusal
	if errors.As(err, &r) {
		// Nothing was written; the rollback changed nothing.
		return r.err
	}
	return err
}

// safely calls fn, turning a panic into its error: a panicking member
// must not take its batch's callers, which wait on other goroutines, down
// with it.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write function panicked: %v", p)
		}
	}()
	return fn(tx)
}
