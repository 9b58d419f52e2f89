// Package redistest connects tests to the real Redis named by TEST_REDIS_URL.
// Without it the test is skipped, unless GATEWAY_TEST_REQUIRE_INTEGRATION is set
// (as CI does), where a missing server fails the test instead.
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL returns TEST_REDIS_URL, skipping (or failing, in CI) when it is unset.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("GATEWAY_TEST_REQUIRE_INTEGRATION") != "" {
			t.Fatal("TEST_REDIS_URL is not set but GATEWAY_TEST_REQUIRE_INTEGRATION requires the Redis suite")
		}
		t.Skip("TEST_REDIS_URL not set")
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at TEST_REDIS_URL is not reachable: %v", err)
	}
	return u
}
