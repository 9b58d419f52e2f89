package upstream

import (
	"errors"
	"math/rand/v2"

	"github.com/antigravity/gateway/internal/store"
)

// ErrNoEndpoint means the model has no endpoint that can take the request.
var ErrNoEndpoint = errors.New("no active endpoint for this model")

// Pool is the set of active endpoints of one model.
type Pool struct {
	Model     store.Model
	Endpoints []*Endpoint // active ones only, by priority then id
}

// Selector chooses the endpoint for the next request among candidates; tried
// holds endpoints already tried for this request (for failover).
type Selector interface {
	Select(p *Pool, tried []*Endpoint) (*Endpoint, error)
}

// Weighted picks at random in proportion to weight within the best (lowest
// number) priority group that still has untried endpoints.
type Weighted struct {
	// Rand returns a number in [0, n); nil uses math/rand/v2.
	Rand func(n int) int
}

// Select implements Selector.
func (w Weighted) Select(p *Pool, tried []*Endpoint) (*Endpoint, error) {
	var group []*Endpoint
	prio := 0
	for _, e := range p.Endpoints {
		if contains(tried, e) {
			continue
		}
		if group == nil || e.Config.Priority < prio {
			group, prio = group[:0], e.Config.Priority
		}
		if e.Config.Priority == prio {
			group = append(group, e)
		}
	}
	if len(group) == 0 {
		return nil, ErrNoEndpoint
	}
	if len(group) == 1 {
		return group[0], nil
	}
	total := 0
	for _, e := range group {
		total += max(e.Config.Weight, 0)
	}
	rnd := w.Rand
	if rnd == nil {
		rnd = rand.IntN
	}
	if total == 0 { // all weights zero: uniform
		return group[rnd(len(group))], nil
	}
	n := rnd(total)
	for _, e := range group {
		n -= max(e.Config.Weight, 0)
		if n < 0 {
			return e, nil
		}
	}
	return group[len(group)-1], nil
}

func contains(list []*Endpoint, e *Endpoint) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}
