// Package config reads the gateway's configuration from the environment and
// validates it, collecting every problem at once.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/antigravity/gateway/internal/money"
)

// Config is the whole configuration. Every field comes from one environment
// variable; the README's configuration table lists them.
type Config struct {
	Listen string `env:"GATEWAY_LISTEN" envDefault:":8080"`
	// DebugListen, when set (e.g. 127.0.0.1:6060), serves Go's profiler
	// (net/http/pprof: CPU, heap, goroutines, execution trace) on that
	// address only, never on the API listener. Off by default.
	DebugListen string `env:"GATEWAY_DEBUG_LISTEN"`
	DataDir     string `env:"GATEWAY_DATA_DIR" envDefault:"./data"`
	DatabaseURL string `env:"DATABASE_URL"`
	RedisURL    string `env:"REDIS_URL"`
	// RedisPrefix starts every Redis key and channel of this deployment, so
	// several deployments can share one Redis.
	RedisPrefix   string        `env:"GATEWAY_REDIS_PREFIX" envDefault:"gw"`
	AdminKey      string        `env:"GATEWAY_ADMIN_KEY"`
	EncryptionKey string        `env:"GATEWAY_ENCRYPTION_KEY"`
	SharedSecret  string        `env:"GATEWAY_SHARED_SECRET"`
	OpenAIKey     string        `env:"OPENAI_API_KEY"`
	OpenAIBaseURL string        `env:"OPENAI_BASE_URL" envDefault:"https://api.openai.com/v1"`
	DemoModel     bool          `env:"GATEWAY_DEMO_MODEL" envDefault:"true"`
	MaxBodyBytes  int64         `env:"GATEWAY_MAX_BODY_BYTES" envDefault:"10485760"`
	ShutdownGrace time.Duration `env:"GATEWAY_SHUTDOWN_GRACE" envDefault:"30s"`
	// UpstreamTimeout bounds one upstream call from sending to the last byte.
	UpstreamTimeout time.Duration `env:"GATEWAY_UPSTREAM_TIMEOUT" envDefault:"10m"`
	// UpstreamHeaderTimeout bounds the wait for the upstream's response headers.
	UpstreamHeaderTimeout time.Duration `env:"GATEWAY_UPSTREAM_HEADER_TIMEOUT" envDefault:"5m"`
	KeyCacheTTL           time.Duration `env:"GATEWAY_KEY_CACHE_TTL" envDefault:"30s"`
	ConfigRefresh         time.Duration `env:"GATEWAY_CONFIG_REFRESH" envDefault:"30s"`
	// UsageBatchSize is the most rows of one usage write; 0 (the default)
	// picks 500 in production mode (one COPY per batch) and 64 in embedded
	// mode, where a batch is written by in-process SQLite: a 500-row commit
	// is milliseconds of CPU in one piece, which on a one-core gateway shows
	// in the latency tail (p99 +0.6 ms, max +6 ms at 1,000 req/s).
	UsageBatchSize     int           `env:"GATEWAY_USAGE_BATCH_SIZE" envDefault:"0"`
	UsageFlushInterval time.Duration `env:"GATEWAY_USAGE_FLUSH_INTERVAL" envDefault:"200ms"`
	LogLevel           string        `env:"GATEWAY_LOG_LEVEL" envDefault:"info"`

	// Budgets: the billing month's zone (IANA), the fallback when Redis is
	// unreachable (see package budget), the monthly budget of users without
	// their own (USD; empty: none) and the expiry of a reservation, which
	// must exceed GATEWAY_UPSTREAM_TIMEOUT.
	BillingTZ      string `env:"GATEWAY_BILLING_TZ" envDefault:"UTC"`
	BudgetFailOpen bool   `env:"GATEWAY_BUDGET_FAIL_OPEN" envDefault:"false"`
	// BudgetLeases lets each production replica reserve against its own
	// slice of a busy budget without a Redis round trip per request (see
	// internal/budget/lease.go); false: every request holds in Redis.
	BudgetLeases      bool          `env:"GATEWAY_BUDGET_LEASES" envDefault:"true"`
	DefaultUserBudget string        `env:"GATEWAY_DEFAULT_USER_BUDGET_USD"`
	ReservationTTL    time.Duration `env:"GATEWAY_RESERVATION_TTL" envDefault:"15m"`
	// UsageRetentionMonths drops whole UsageLogs partitions older than this
	// many months (rollups are kept); 0 keeps everything.
	UsageRetentionMonths int `env:"GATEWAY_USAGE_RETENTION_MONTHS" envDefault:"0"`
}

// Mode is the deployment mode.
type Mode string

const (
	// Embedded: SQLite file plus in-process cache and counters.
	Embedded Mode = "embedded"
	// Production: PostgreSQL plus Redis; any number of replicas.
	Production Mode = "production"
)

// Mode derives the deployment mode from the URLs.
func (c *Config) Mode() Mode {
	if c.DatabaseURL != "" {
		return Production
	}
	return Embedded
}

// FromEnv reads the configuration from the given environment (nil: the process's)
// and validates it.
func FromEnv(environ map[string]string) (*Config, error) {
	var c Config
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return nil, err
	}
	if c.UsageBatchSize == 0 {
		c.UsageBatchSize = 64
		if c.Mode() == Production {
			c.UsageBatchSize = 500
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the configuration and returns every problem found, joined.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Listen == "" {
		bad("GATEWAY_LISTEN is empty")
	}
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("DATABASE_URL must be a postgres:// URL")
		}
		if c.EncryptionKey == "" {
			bad("GATEWAY_ENCRYPTION_KEY is required with DATABASE_URL: every replica must decrypt the same upstream credentials")
		}
	} else if c.DataDir == "" {
		bad("GATEWAY_DATA_DIR is empty")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("REDIS_URL must be a redis:// or rediss:// URL")
		}
		if c.DatabaseURL == "" {
			bad("REDIS_URL is set without DATABASE_URL: production mode needs both (embedded mode needs neither)")
		}
	}
	if c.AdminKey != "" && (len(c.AdminKey) < 20 || strings.ContainsAny(c.AdminKey, " \t\r\n")) {
		bad("GATEWAY_ADMIN_KEY must be at least 20 characters without whitespace")
	}
	if c.SharedSecret != "" && len(c.SharedSecret) < 16 {
		bad("GATEWAY_SHARED_SECRET must be at least 16 characters")
	}
	if c.MaxBodyBytes < 1024 {
		bad("GATEWAY_MAX_BODY_BYTES must be at least 1024")
	}
	for name, d := range map[string]time.Duration{
		"GATEWAY_SHUTDOWN_GRACE":          c.ShutdownGrace,
		"GATEWAY_UPSTREAM_TIMEOUT":        c.UpstreamTimeout,
		"GATEWAY_UPSTREAM_HEADER_TIMEOUT": c.UpstreamHeaderTimeout,
		"GATEWAY_KEY_CACHE_TTL":           c.KeyCacheTTL,
		"GATEWAY_CONFIG_REFRESH":          c.ConfigRefresh,
		"GATEWAY_USAGE_FLUSH_INTERVAL":    c.UsageFlushInterval,
	} {
		if d <= 0 {
			bad("%s must be a positive duration", name)
		}
	}
	if c.UsageRetentionMonths < 0 {
		bad("GATEWAY_USAGE_RETENTION_MONTHS must be 0 (keep everything) or a number of months")
	}
	if c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, " \t\r\n{}") {
		bad("GATEWAY_REDIS_PREFIX must be non-empty, without spaces or braces")
	}
	if c.UsageBatchSize < 1 {
		bad("GATEWAY_USAGE_BATCH_SIZE must be a number of rows, or 0 for the mode's default (64 embedded, 500 production)")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("GATEWAY_LOG_LEVEL must be debug, info, warn or error")
	}
	if _, err := time.LoadLocation(c.BillingTZ); err != nil || c.BillingTZ == "" {
		bad("GATEWAY_BILLING_TZ must be an IANA time zone such as UTC or Europe/Paris")
	}
	if _, err := money.ParseUSDNanos(c.DefaultUserBudget); c.DefaultUserBudget != "" && err != nil {
		bad("GATEWAY_DEFAULT_USER_BUDGET_USD must be a non-negative USD amount such as 50 or 12.5: %v", err)
	}
	if c.ReservationTTL <= c.UpstreamTimeout {
		bad("GATEWAY_RESERVATION_TTL (%v) must exceed GATEWAY_UPSTREAM_TIMEOUT (%v)", c.ReservationTTL, c.UpstreamTimeout)
	}
	if u, err := url.Parse(c.OpenAIBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		bad("OPENAI_BASE_URL must be an http(s) URL")
	}
	return errors.Join(errs...)
}
