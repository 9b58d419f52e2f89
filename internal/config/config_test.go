package config

import (
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	c, err := FromEnv(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.DataDir != "./data" || c.Mode() != Embedded || !c.DemoModel {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestValidateCollectsEveryProblem(t *testing.T) {
	_, err := FromEnv(map[string]string{
		"DATABASE_URL":           "mysql://x",
		"REDIS_URL":              "http://x",
		"GATEWAY_ADMIN_KEY":      "short",
		"GATEWAY_MAX_BODY_BYTES": "10",
		"GATEWAY_LOG_LEVEL":      "loud",
	})
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"DATABASE_URL", "GATEWAY_ENCRYPTION_KEY", "REDIS_URL", "GATEWAY_ADMIN_KEY", "GATEWAY_MAX_BODY_BYTES", "GATEWAY_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestProductionMode(t *testing.T) {
	c, err := FromEnv(map[string]string{
		"DATABASE_URL":           "postgres://u@h/db",
		"REDIS_URL":              "redis://127.0.0.1:6379/0",
		"GATEWAY_ENCRYPTION_KEY": "k",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode() != Production {
		t.Fatal("want production")
	}
	if _, err := FromEnv(map[string]string{"REDIS_URL": "redis://x"}); err == nil || !strings.Contains(err.Error(), "without DATABASE_URL") {
		t.Fatalf("redis without database: %v", err)
	}
}

// TestUsageBatchSizePerMode: unset, the usage batch is small in embedded mode
// (in-process SQLite commits) and large in production (COPY); an explicit
// value wins in both.
func TestUsageBatchSizePerMode(t *testing.T) {
	prod := map[string]string{"DATABASE_URL": "postgres://u@h/db", "REDIS_URL": "redis://127.0.0.1:6379/0", "GATEWAY_ENCRYPTION_KEY": "k"}
	cases := []struct {
		name string
		env  map[string]string
		want int
	}{
		{"embedded default", map[string]string{}, 64},
		{"production default", prod, 500},
		{"embedded explicit", map[string]string{"GATEWAY_USAGE_BATCH_SIZE": "1000"}, 1000},
		{"production explicit", map[string]string{"DATABASE_URL": prod["DATABASE_URL"], "REDIS_URL": prod["REDIS_URL"],
			"GATEWAY_ENCRYPTION_KEY": "k", "GATEWAY_USAGE_BATCH_SIZE": "7"}, 7},
	}
	for _, tc := range cases {
		c, err := FromEnv(tc.env)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.UsageBatchSize != tc.want {
			t.Errorf("%s: batch size %d, want %d", tc.name, c.UsageBatchSize, tc.want)
		}
	}
	if _, err := FromEnv(map[string]string{"GATEWAY_USAGE_BATCH_SIZE": "-1"}); err == nil {
		t.Error("a negative batch size is accepted")
	}
}
