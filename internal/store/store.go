// Package store defines the persistent state of the gateway and the one interface
// both database back-ends (store/sqlite, store/postgres) implement. The shared
// contract suite in store/storetest pins down their behaviour.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/antigravity/gateway/internal/money"
)

// Sentinel errors every implementation returns (wrapped or not) so callers can map
// them to HTTP statuses without knowing the driver.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrReferenced is returned when a row cannot be removed or created because of a
	// reference (for example an app whose owner does not exist).
	ErrReferenced = errors.New("referenced row missing or in use")
)

// Role is a user's role.
type Role string

const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleUser }

// User is a person (or service identity) that can be billed.
type User struct {
	OID         string     `json:"oid"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	Role        Role       `json:"role"`
	Active      bool       `json:"is_active"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	DeletedAt   *time.Time `json:"deleted_at,omitempty"`
}

// UserPatch changes the non-nil fields of a user.
type UserPatch struct {
	Email       *string
	DisplayName *string
	Role        *Role
	Active      *bool
}

// APIKey is a stored key. Only the SHA-256 of the secret is kept (hex, 64 chars).
type APIKey struct {
	ID            int64      `json:"id"`
	UserOID       string     `json:"user_oid"`
	Hash          string     `json:"-"`
	Prefix        string     `json:"prefix"`
	Name          string     `json:"name"`
	ExpiresAt     *time.Time `json:"expires_at"`
	Active        bool       `json:"is_active"`
	LastUsedAt    *time.Time `json:"last_used_at"`
	AllowedModels []string   `json:"allowed_models"` // nil or empty: every model
	CreatedAt     time.Time  `json:"created_at"`
}

// KeyOwner is what authentication needs in one lookup: the key and its owner.
type KeyOwner struct {
	Key  APIKey
	User User
}

// Model is a logical model name callers use, with its limits and prices.
type Model struct {
	Name            string `json:"name"`
	ContextWindow   int64  `json:"context_window"`
	MaxOutputTokens int64  `json:"max_output_tokens"`
	// Prices in micro-USD per one million tokens.
	InputPrice       money.Micros `json:"-"`
	OutputPrice      money.Micros `json:"-"`
	CachedInputPrice money.Micros `json:"-"`
	Routing          string       `json:"routing"`
	Active           bool         `json:"is_active"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
}

// ModelPatch changes the non-nil fields of a model.
type ModelPatch struct {
	ContextWindow    *int64
	MaxOutputTokens  *int64
	InputPrice       *money.Micros
	OutputPrice      *money.Micros
	CachedInputPrice *money.Micros
	Routing          *string
	Active           *bool
}

// Provider types an endpoint can speak.
const (
	ProviderOpenAI           = "openai"
	ProviderOpenAICompatible = "openai_compatible"
	ProviderAzure            = "azure"
	// ProviderAnthropic speaks the Anthropic Messages API (translated).
	ProviderAnthropic = "anthropic"
	// ProviderGemini speaks the Google Gemini API (translated).
	ProviderGemini = "gemini"
	// ProviderFake is the built-in demo provider served in-process.
	ProviderFake = "fake"
)

// Endpoint is one upstream deployment serving a model.
type Endpoint struct {
	ID            int64  `json:"id"`
	Model         string `json:"model"`
	Provider      string `json:"provider"`
	BaseURL       string `json:"base_url"`
	UpstreamModel string `json:"upstream_model"`
	APIVersion    string `json:"api_version"`
	// Credential is the ciphertext of the upstream credential (see package secrets);
	// it never leaves the process in plaintext except towards the upstream.
	Credential []byte `json:"-"`
	Weight     int    `json:"weight"`
	Priority   int    `json:"priority"`
	RPMLimit   int64  `json:"rpm_limit"` // 0: unlimited
	TPMLimit   int64  `json:"tpm_limit"` // 0: unlimited
	Active     bool   `json:"is_active"`
	// Draining endpoints take no new requests; in-flight ones finish.
	Draining  bool      `json:"draining"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// EndpointPatch changes the non-nil fields of an endpoint.
type EndpointPatch struct {
	Provider      *string
	BaseURL       *string
	UpstreamModel *string
	APIVersion    *string
	Credential    []byte // nil: unchanged
	Weight        *int
	Priority      *int
	RPMLimit      *int64
	TPMLimit      *int64
	Active        *bool
	Draining      *bool
}

// App is a registered internal application (spec §2.1).
type App struct {
	AppID       string    `json:"app_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	OwnerID     string    `json:"owner_id"`
	IsActive    bool      `json:"is_active"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// AuditEntry records one administrative change.
type AuditEntry struct {
	ID         int64           `json:"id"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	Target     string          `json:"target"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	ClientAddr string          `json:"client_addr"`
}

// AuditFilter selects audit rows; zero fields do not filter.
type AuditFilter struct {
	Actor      string
	Action     string
	TargetType string
	Target     string
	Since      time.Time
	Until      time.Time
	Page       Page
}

// UsageRecord is one row of UsageLogs: exactly one per proxied request.
type UsageRecord struct {
	RequestID        string      `json:"request_id"`
	CreatedAt        time.Time   `json:"created_at"`
	UserOID          string      `json:"user_oid"`
	KeyID            *int64      `json:"key_id"`
	AppID            *string     `json:"app_id"`
	Model            string      `json:"model"`
	EndpointID       *int64      `json:"endpoint_id"`
	Status           int         `json:"status"`
	PromptTokens     int64       `json:"prompt_tokens"`
	CompletionTokens int64       `json:"completion_tokens"`
	CachedTokens     int64       `json:"cached_tokens"`
	ReasoningTokens  int64       `json:"reasoning_tokens"`
	Cost             money.Nanos `json:"cost_nanos"`
	LatencyMs        int64       `json:"latency_ms"`
	TTFTMs           int64       `json:"ttft_ms"`
	Stream           bool        `json:"stream"`
	ErrorCode        string      `json:"error_code"`
	DelegationMethod string      `json:"delegation_method"`
	Attempts         int         `json:"attempts"`
}

// UsageFilter selects usage rows; zero fields do not filter. Since is inclusive,
// Until exclusive.
type UsageFilter struct {
	UserOID   string
	AppID     string
	Model     string
	RequestID string
	Since     time.Time
	Until     time.Time
	Page      Page
}

// UsageTotals is an aggregate over usage rows.
type UsageTotals struct {
	Requests         int64       `json:"requests"`
	PromptTokens     int64       `json:"prompt_tokens"`
	CompletionTokens int64       `json:"completion_tokens"`
	Cost             money.Nanos `json:"cost_nanos"`
}

// Page bounds a list. Limit 0 means the implementation's default (100); the
// maximum is 1000.
type Page struct {
	Limit  int
	Offset int
}

// Normalized returns the page with defaults and bounds applied.
func (p Page) Normalized() Page {
	if p.Limit <= 0 {
		p.Limit = 100
	}
	if p.Limit > 1000 {
		p.Limit = 1000
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	return p
}

// Users stores users.
type Users interface {
	// CreateUser stores u; an empty Role means RoleUser. ErrConflict if the oid
	// exists, deleted users included.
	CreateUser(ctx context.Context, u User) (User, error)
	// GetUser returns deleted users too (DeletedAt set).
	GetUser(ctx context.Context, oid string) (User, error)
	// ListUsers lists users that are not deleted, by oid.
	ListUsers(ctx context.Context, p Page) ([]User, error)
	// UpdateUser changes a user that is not deleted (else ErrNotFound).
	UpdateUser(ctx context.Context, oid string, p UserPatch) (User, error)
	// DeleteUser soft-deletes: the row stays for billing history, the user is
	// deactivated and hidden from lists, and every key of the user is deactivated.
	DeleteUser(ctx context.Context, oid string) error
}

// Keys stores API keys.
type Keys interface {
	// CreateKey stores k (ID and CreatedAt are assigned). ErrReferenced if the
	// user does not exist or is deleted; ErrConflict if the hash is taken.
	CreateKey(ctx context.Context, k APIKey) (APIKey, error)
	GetKey(ctx context.Context, id int64) (APIKey, error)
	// KeyByHash returns the key with that SHA-256 (hex) and its owner, whatever
	// their active flags; ErrNotFound if none.
	KeyByHash(ctx context.Context, hash string) (KeyOwner, error)
	// ListKeys lists the keys of one user, newest first.
	ListKeys(ctx context.Context, userOID string, p Page) ([]APIKey, error)
	// RevokeKey deactivates a key (the row stays for usage history).
	RevokeKey(ctx context.Context, id int64) error
	// TouchKeys sets last_used_at for many keys at once (only ever forwards).
	TouchKeys(ctx context.Context, used map[int64]time.Time) error
}

// Models stores models.
type Models interface {
	CreateModel(ctx context.Context, m Model) (Model, error)
	GetModel(ctx context.Context, name string) (Model, error)
	ListModels(ctx context.Context) ([]Model, error)
	UpdateModel(ctx context.Context, name string, p ModelPatch) (Model, error)
	// DeleteModel removes the model and its endpoints.
	DeleteModel(ctx context.Context, name string) error
}

// Endpoints stores model endpoints.
type Endpoints interface {
	// CreateEndpoint stores e; ErrReferenced if its model does not exist.
	CreateEndpoint(ctx context.Context, e Endpoint) (Endpoint, error)
	GetEndpoint(ctx context.Context, id int64) (Endpoint, error)
	// ListEndpoints lists the endpoints of one model, or of all models when model
	// is empty, by id.
	ListEndpoints(ctx context.Context, model string) ([]Endpoint, error)
	UpdateEndpoint(ctx context.Context, id int64, p EndpointPatch) (Endpoint, error)
	DeleteEndpoint(ctx context.Context, id int64) error
}

// Apps stores registered apps.
type Apps interface {
	// CreateApp stores a; ErrReferenced if the owner does not exist (or is
	// deleted), ErrConflict if the id is taken.
	CreateApp(ctx context.Context, a App) (App, error)
	GetApp(ctx context.Context, appID string) (App, error)
	ListApps(ctx context.Context, p Page) ([]App, error)
	SetAppActive(ctx context.Context, appID string, active bool) (App, error)
	DeleteApp(ctx context.Context, appID string) error
}

// Audit stores the audit log.
type Audit interface {
	InsertAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// InsertAudit assigns ID, and Time when zero. Before/After must be valid
	// JSON or empty; they read back as equal JSON values, not byte for byte.
	// ListAudit lists entries newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Usage stores usage rows.
type Usage interface {
	// InsertUsage writes a batch atomically: all rows or none. A row whose
	// RequestID already exists (same CreatedAt) is skipped, so a retried batch
	// never double-counts. A zero CreatedAt means now; a row with an empty
	// RequestID or a negative token count fails the whole batch.
	InsertUsage(ctx context.Context, rows []UsageRecord) error
	// ListUsage lists rows newest first (CreatedAt, then RequestID, descending).
	ListUsage(ctx context.Context, f UsageFilter) ([]UsageRecord, error)
	SumUsage(ctx context.Context, f UsageFilter) (UsageTotals, error)
	// EnsureUsagePartitions makes sure rows created in the months of the given
	// times can be stored (PostgreSQL monthly partitions; a no-op on SQLite).
	EnsureUsagePartitions(ctx context.Context, months ...time.Time) error
}

// Store is the whole persistent state.
//
// Common rules of the implementations: Create* assigns IDs and timestamps and
// stores the active flags exactly as given (the zero value is inactive);
// timestamps are stored and returned in UTC at microsecond precision (a
// sub-microsecond part is truncated, filters included); lists return a
// non-nil slice; Get/Update/Delete of a missing row return ErrNotFound; an
// empty patch returns the row unchanged.
type Store interface {
	Users
	Keys
	Models
	Endpoints
	Apps
	Audit
	Usage
	Budgets
	KillSwitches
	Billing
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// Dialect names the back-end ("sqlite" or "postgres").
	Dialect() string
	Close() error
}
