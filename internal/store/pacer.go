package store

import "time"

// The pace of a long in-process write: after paceEvery of work it pauses for
// pacePause.
const (
	paceEvery = 50 * time.Microsecond
	pacePause = 200 * time.Microsecond
)

// Pacer breaks a long in-process write (an SQLite transaction, encoding a
// PostgreSQL COPY) into pieces, so requests run between them. The work runs
// in one goroutine that does not block for milliseconds, and while it runs the
// Go scheduler does not poll the network (only sysmon does, every 10 ms): with
// one CPU (GOMAXPROCS=1 when pinned), requests whose bytes have arrived wait for
// the whole of it. runtime.Gosched is not enough: the scheduler serves its run
// queues, where the yielding goroutine goes, before it polls the network. A
// sleep parks the writer long enough for the scheduler to poll the network and
// run those requests; the write then resumes, a little later (a sleep this
// short can take up to a millisecond when nothing else runs).
//
// Call Maybe between pieces of work; a Pacer is for one goroutine.
type Pacer struct{ last time.Time }

// Maybe pauses if paceEvery has passed since the first call or the last pause.
func (p *Pacer) Maybe() {
	now := time.Now()
	if p.last.IsZero() {
		p.last = now
		return
	}
	if now.Sub(p.last) >= paceEvery {
		time.Sleep(pacePause)
		p.last = time.Now()
	}
}
