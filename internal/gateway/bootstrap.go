package gateway

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/antigravity/gateway/internal/auth"
	"github.com/antigravity/gateway/internal/money"
	"github.com/antigravity/gateway/internal/secrets"
	"github.com/antigravity/gateway/internal/store"
)

// AdminOID is the bootstrap admin user.
const AdminOID = "admin"

// DemoModel is the model served by the built-in fake provider.
const DemoModel = "demo"

// bootstrap makes a first start usable: an admin user with a key, the demo
// model, and the OpenAI models when OPENAI_API_KEY is set. It only adds what is
// missing, so it is safe on every start and on every replica.
func (g *Gateway) bootstrap(ctx context.Context, box *secrets.Box) error {
	if err := g.ensureAdmin(ctx); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if g.Config.DemoModel {
		demo := store.Model{Name: DemoModel, ContextWindow: 8192, MaxOutputTokens: 1024,
			InputPrice: 500_000, OutputPrice: 1_500_000, CachedInputPrice: 250_000, Active: true}
		if err := g.ensureModel(ctx, demo, store.Endpoint{Provider: store.ProviderFake, UpstreamModel: DemoModel}, nil); err != nil {
			return fmt.Errorf("bootstrap demo model: %w", err)
		}
	}
	if key := g.Config.OpenAIKey; key != "" {
		cred, err := box.Seal(key)
		if err != nil {
			return err
		}
		for _, m := range openAIModels() {
			ep := store.Endpoint{Provider: store.ProviderOpenAI, BaseURL: g.Config.OpenAIBaseURL, UpstreamModel: m.Name}
			if err := g.ensureModel(ctx, m, ep, cred); err != nil {
				return fmt.Errorf("bootstrap OpenAI model %s: %w", m.Name, err)
			}
		}
	}
	return nil
}

func (g *Gateway) ensureAdmin(ctx context.Context) error {
	_, err := g.Store.GetUser(ctx, AdminOID)
	if errors.Is(err, store.ErrNotFound) {
		_, err = g.Store.CreateUser(ctx, store.User{OID: AdminOID, Email: "admin@localhost", DisplayName: "Bootstrap admin", Role: store.RoleAdmin, Active: true})
		if errors.Is(err, store.ErrConflict) { // another replica was faster
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if key := g.Config.AdminKey; key != "" {
		hash := auth.HashKey(key)
		if _, err := g.Store.KeyByHash(ctx, hash); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		prefix := key
		if len(prefix) > 12 {
			prefix = prefix[:12]
		}
		_, err := g.Store.CreateKey(ctx, store.APIKey{UserOID: AdminOID, Hash: hash, Prefix: prefix, Name: "bootstrap (GATEWAY_ADMIN_KEY)", Active: true})
		if errors.Is(err, store.ErrConflict) {
			err = nil
		}
		return err
	}
	keys, err := g.Store.ListKeys(ctx, AdminOID, store.Page{Limit: 1})
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		return nil // the key was printed at the first start
	}
	plain, hash, prefix, err := auth.NewKey()
	if err != nil {
		return err
	}
	if _, err := g.Store.CreateKey(ctx, store.APIKey{UserOID: AdminOID, Hash: hash, Prefix: prefix, Name: "bootstrap (generated)", Active: true}); err != nil {
		return err
	}
	g.GeneratedAdminKey = plain
	fmt.Fprintf(os.Stderr, "\n  Generated the bootstrap admin key (shown once, store it now):\n\n    %s\n\n  Set GATEWAY_ADMIN_KEY to choose your own.\n\n", plain)
	return nil
}

// ensureModel creates m with one endpoint if m does not exist yet.
func (g *Gateway) ensureModel(ctx context.Context, m store.Model, ep store.Endpoint, cred []byte) error {
	if _, err := g.Store.GetModel(ctx, m.Name); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, err := g.Store.CreateModel(ctx, m); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	}
	ep.Model, ep.Credential, ep.Weight, ep.Priority, ep.Active = m.Name, cred, 1, 1, true
	_, err := g.Store.CreateEndpoint(ctx, ep)
	return err
}

// openAIModels are registered when OPENAI_API_KEY is set (prices in micro-USD
// per 1M tokens, as published by OpenAI; adjust them in the admin API).
func openAIModels() []store.Model {
	usd := func(s string) money.Micros { m, _ := money.ParseUSD(s); return m }
	return []store.Model{
		{Name: "gpt-4o", ContextWindow: 128000, MaxOutputTokens: 16384, InputPrice: usd("2.5"), OutputPrice: usd("10"), CachedInputPrice: usd("1.25"), Active: true},
		{Name: "gpt-4o-mini", ContextWindow: 128000, MaxOutputTokens: 16384, InputPrice: usd("0.15"), OutputPrice: usd("0.6"), CachedInputPrice: usd("0.075"), Active: true},
		{Name: "text-embedding-3-small", ContextWindow: 8191, MaxOutputTokens: 1, InputPrice: usd("0.02"), OutputPrice: 0, CachedInputPrice: usd("0.02"), Active: true},
	}
}
