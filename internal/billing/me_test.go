package billing

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/antigravity/gateway/internal/store"
)

func TestMyUsage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		tokyo := mustZone(t, "Asia/Tokyo")
		e := newEnv(t, b.open(t, tokyo), time.Date(2026, 2, 15, 0, 0, 0, 0, time.UTC))
		if _, err := e.st.CreateApp(context.Background(), store.App{AppID: "dify-prod", Name: "Dify", OwnerID: adminOID, IsActive: true}); err != nil {
			t.Fatal(err)
		}
		ts := time.Date(2026, 2, 3, 0, 0, 0, 0, tokyo)
		e.insert(
			store.UsageRecord{RequestID: "m1", CreatedAt: ts, UserOID: userOID, AppID: ptr("dify-prod"), Model: "gpt-4o",
				Status: 200, PromptTokens: 100, CompletionTokens: 20, CachedTokens: 5, ReasoningTokens: 1, Cost: 1_500_000_000, Attempts: 1},
			store.UsageRecord{RequestID: "m2", CreatedAt: ts.Add(time.Hour), UserOID: userOID, Model: "o3",
				Status: 200, PromptTokens: 10, Cost: 250_000_000, Attempts: 1},
			store.UsageRecord{RequestID: "m3", CreatedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, tokyo).Add(-time.Minute), UserOID: userOID, Model: "o3",
				Status: 200, PromptTokens: 1, Cost: 1, Attempts: 1}, // January 31 in Tokyo
			store.UsageRecord{RequestID: "other", CreatedAt: ts, UserOID: adminOID, Model: "gpt-4o", Status: 200, Cost: 9_000_000_000, Attempts: 1},
		)
		rec := e.get("/v1/me/usage?month=2026-02", e.userKey)
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		var got map[string]any
		decode(t, rec.Body.String(), &got)
		keys := got["keys"].([]any)
		delete(got, "keys")
		delete(got, "days")
		const want = `{"object":"usage","month":"2026-02","user_oid":"user-1","email":"user1@example.com",
			"total_cost":1.75,"total_requests":2,"prompt_tokens":110,"completion_tokens":20,"cached_tokens":5,"reasoning_tokens":1,
			"apps":[{"app_id":"dify-prod","name":"Dify","owner_id":"admin-1","requests":1,"prompt_tokens":100,"completion_tokens":20,"cached_tokens":5,"reasoning_tokens":1,"total_cost":1.5},
			        {"app_id":null,"name":"","owner_id":"","requests":1,"prompt_tokens":10,"completion_tokens":0,"cached_tokens":0,"reasoning_tokens":0,"total_cost":0.25}],
			"models":[{"model":"gpt-4o","requests":1,"prompt_tokens":100,"completion_tokens":20,"cached_tokens":5,"reasoning_tokens":1,"total_cost":1.5},
			          {"model":"o3","requests":1,"prompt_tokens":10,"completion_tokens":0,"cached_tokens":0,"reasoning_tokens":0,"total_cost":0.25}]}`
		var exp map[string]any
		decode(t, want, &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("body\n got  %v\n want %v", got, exp)
		}
		if len(keys) != 1 {
			t.Fatalf("keys %v", keys)
		}
		k := keys[0].(map[string]any)
		if k["name"] != "k-user-1" || !strings.HasPrefix(e.userKey, k["prefix"].(string)) || k["is_active"] != true {
			t.Fatalf("key %v", k)
		}
		for _, secret := range []string{"hash", "key", "key_hash"} {
			if _, ok := k[secret]; ok {
				t.Fatalf("key shows %q: %v", secret, k)
			}
		}
		if strings.Contains(rec.Body.String(), e.userKey) {
			t.Fatal("the body contains the key's secret")
		}

		t.Run("days in the billing zone", func(t *testing.T) {
			var body struct {
				Days []struct {
					Date      string      `json:"date"`
					TotalCost json.Number `json:"total_cost"`
				} `json:"days"`
			}
			decode(t, rec.Body.String(), &body)
			if len(body.Days) != 28 || body.Days[2].Date != "2026-02-03" || body.Days[2].TotalCost.String() != "1.75" {
				t.Fatalf("days %+v", body.Days)
			}
		})
		t.Run("default month and January", func(t *testing.T) {
			var body struct {
				Month     string      `json:"month"`
				TotalCost json.Number `json:"total_cost"`
			}
			decode(t, e.get("/v1/me/usage", e.userKey).Body.String(), &body)
			if body.Month != "2026-02" || body.TotalCost.String() != "1.75" {
				t.Fatalf("default month %+v", body)
			}
			decode(t, e.get("/v1/me/usage?month=2026-01", e.userKey).Body.String(), &body)
			if body.Month != "2026-01" || body.TotalCost.String() != "0.000000001" {
				t.Fatalf("January %+v", body)
			}
		})
		t.Run("admin sees only their own usage", func(t *testing.T) {
			var body struct {
				UserOID   string      `json:"user_oid"`
				TotalCost json.Number `json:"total_cost"`
			}
			decode(t, e.get("/v1/me/usage?month=2026-02", e.adminKey).Body.String(), &body)
			if body.UserOID != adminOID || body.TotalCost.String() != "9" {
				t.Fatalf("admin %+v", body)
			}
		})
		t.Run("csv", func(t *testing.T) {
			rec := e.get("/v1/me/usage?month=2026-02&format=csv", e.userKey)
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
				t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			want := "date,user_oid,app_id,app_name,model,requests,prompt_tokens,completion_tokens,cached_tokens,reasoning_tokens,total_cost_usd\n" +
				"2026-02-03,user-1,,,o3,1,10,0,0,0,0.25\n" +
				"2026-02-03,user-1,dify-prod,Dify,gpt-4o,1,100,20,5,1,1.5\n"
			if rec.Body.String() != want {
				t.Fatalf("csv\n%s\nwant\n%s", rec.Body, want)
			}
		})
	})
}
