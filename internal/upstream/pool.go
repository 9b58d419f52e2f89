package upstream

import (
	"errors"

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
// holds endpoints already tried for this request (for failover). The
// strategies are in selectors.go; routing.go combines them with limits and the
// circuit breaker.
type Selector interface {
	Select(p *Pool, tried []*Endpoint) (*Endpoint, error)
}

func contains(list []*Endpoint, e *Endpoint) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}
