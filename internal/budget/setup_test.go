package budget

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/antigravity/gateway/internal/events"
	"github.com/antigravity/gateway/internal/store"
)

func TestNew(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		cfg      Config
		redis    bool
		wantErr  bool
		wantKind string
	}{
		{"embedded", Config{BillingTZ: "Europe/Paris", DefaultUserUSD: "2.5"}, false, false, "*budget.Local"},
		{"production", Config{TTL: 20 * time.Minute, FailOpen: true}, true, false, "*budget.Redis"},
		{"bad zone", Config{BillingTZ: "Mars/Olympus"}, false, true, ""},
		{"bad default", Config{DefaultUserUSD: "-3"}, false, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			tc.cfg.Store, tc.cfg.Bus, tc.cfg.Log = st, events.NewLocal(), quiet()
			tc.cfg.Registerer = prometheus.NewRegistry()
			if tc.redis {
				tc.cfg.Redis = redisClient(t)
			}
			in, err := New(ctx, tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New: %v", err)
			}
			if err != nil {
				return
			}
			defer in.Close()
			if got := typeName(in.Service); got != tc.wantKind {
				t.Fatalf("service %s, want %s", got, tc.wantKind)
			}
			if tc.cfg.DefaultUserUSD != "" {
				if d, ok := in.Limits.Default(store.BudgetUser); !ok || d != 2_500_000_000 {
					t.Fatalf("default %v %v", d, ok)
				}
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *Local:
		return "*budget.Local"
	case *Redis:
		return "*budget.Redis"
	}
	return "?"
}
