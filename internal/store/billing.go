package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/antigravity/gateway/internal/money"
)

// Billing reads the usage rollups. InsertUsage keeps them in the same
// transaction as the raw UsageLogs rows, from the rows actually inserted, so
// for every retained month they equal the sum of the raw rows exactly; billing
// never scans UsageLogs. Days and months are calendar days and months of the
// store's billing time zone (WithBillingLocation of each back-end, UTC by
// default).
//
// Three rollup tables hold the same amounts at different grains:
// UsageRollups (day × user × app × model), UsageUserMonths (month × user) and
// UsageAppModelDays (day × app × model); the two coarse ones exist so that the
// per-user month list and the month totals read tens of thousands of rows, not
// millions, at any traffic.
type Billing interface {
	// BillingLocation is the time zone of the rollups' days.
	BillingLocation() *time.Location
	// BillingTotals sums the month.
	BillingTotals(ctx context.Context, m Month) (BillingAmounts, error)
	// BillingByUser lists the users with usage in the month, by cost
	// (descending), then user oid; it also returns how many users match the
	// filter in all.
	BillingByUser(ctx context.Context, f BillingUserFilter) ([]BillingUserRow, int64, error)
	// BillingByApp lists the month by app (AppID "" is usage without an app),
	// by cost descending, then app id.
	BillingByApp(ctx context.Context, m Month) ([]BillingAppRow, error)
	// BillingByModel lists the month by model, by cost descending, then name.
	BillingByModel(ctx context.Context, m Month) ([]BillingModelRow, error)
	// BillingByDay lists the days of the month that have usage, in order.
	BillingByDay(ctx context.Context, m Month) ([]BillingDayRow, error)
	// UserBilling is one user's month: totals and breakdowns by app, model and
	// day (empty, not an error, for a user without usage).
	UserBilling(ctx context.Context, userOID string, m Month) (UserBilling, error)
	// RebuildUsageRollups recomputes the rollups of every day that still has
	// raw rows, in the billing time zone (older days keep their rollups). Open
	// runs it by itself when the billing time zone differs from the one the
	// rollups were built in.
	RebuildUsageRollups(ctx context.Context) error
	// DropUsagePartitionsBefore removes the raw usage rows created before
	// the UTC month of before (PostgreSQL drops whole monthly partitions,
	// never deleting rows; SQLite deletes the rows), keeping the rollups, and
	// returns the names of the partitions removed (usagelogs_YYYY_MM).
	DropUsagePartitionsBefore(ctx context.Context, before time.Time) ([]string, error)
}

// Month is a calendar month of the billing time zone.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth parses exactly YYYY-MM (a four-digit year from 0001, a two-digit
// month 01–12).
func ParseMonth(s string) (Month, error) {
	bad := fmt.Errorf("month %q: want YYYY-MM, e.g. 2026-02", s)
	if len(s) != 7 || s[4] != '-' {
		return Month{}, bad
	}
	y, m := 0, 0
	for i, c := range []byte(s) {
		if i == 4 {
			continue
		}
		if c < '0' || c > '9' {
			return Month{}, bad
		}
		if i < 4 {
			y = y*10 + int(c-'0')
		} else {
			m = m*10 + int(c-'0')
		}
	}
	if y < 1 || m < 1 || m > 12 {
		return Month{}, bad
	}
	return Month{Year: y, Month: time.Month(m)}, nil
}

// MonthOf is the month of t in loc.
func MonthOf(t time.Time, loc *time.Location) Month {
	t = t.In(loc)
	return Month{Year: t.Year(), Month: t.Month()}
}

// String renders YYYY-MM.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Next is the following month.
func (m Month) Next() Month {
	if m.Month == time.December {
		return Month{Year: m.Year + 1, Month: time.January}
	}
	return Month{Year: m.Year, Month: m.Month + 1}
}

// Start is the first instant of the month in loc.
func (m Month) Start(loc *time.Location) time.Time {
	return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, loc)
}

// FirstDay is the month's first day as YYYY-MM-DD (how rollup days and
// months are keyed).
func (m Month) FirstDay() string { return m.String() + "-01" }

// Days is the number of days in the month.
func (m Month) Days() int {
	return time.Date(m.Year, m.Month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// DayLayout is the form of a rollup day.
const DayLayout = "2006-01-02"

// BillingAmounts are the summed amounts of a group of usage rows.
type BillingAmounts struct {
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	ReasoningTokens  int64
	Cost             money.Nanos
}

// Add returns the sum of a and b.
func (a BillingAmounts) Add(b BillingAmounts) BillingAmounts {
	return BillingAmounts{
		Requests:         a.Requests + b.Requests,
		PromptTokens:     a.PromptTokens + b.PromptTokens,
		CompletionTokens: a.CompletionTokens + b.CompletionTokens,
		CachedTokens:     a.CachedTokens + b.CachedTokens,
		ReasoningTokens:  a.ReasoningTokens + b.ReasoningTokens,
		Cost:             a.Cost + b.Cost,
	}
}

// AmountsOf is what one usage row adds to its rollups.
func AmountsOf(r UsageRecord) BillingAmounts {
	return BillingAmounts{Requests: 1, PromptTokens: r.PromptTokens,
		CompletionTokens: r.CompletionTokens, CachedTokens: r.CachedTokens,
		ReasoningTokens: r.ReasoningTokens, Cost: r.Cost}
}

// BillingUserFilter selects the users of a month. Search, when set, keeps the
// users whose oid or email contains it (case-insensitively for ASCII). Limit 0
// means every user; Offset skips that many.
type BillingUserFilter struct {
	Month  Month
	Search string
	Limit  int
	Offset int
}

// BillingUserRow is one user's month. Email is "" for an oid unknown to Users.
type BillingUserRow struct {
	UserOID string
	Email   string
	BillingAmounts
}

// BillingAppRow is one app's month; AppID "" is usage made without an app.
// Name and OwnerID come from Apps ("" when the app is unknown or deleted).
type BillingAppRow struct {
	AppID   string
	Name    string
	OwnerID string
	BillingAmounts
}

// BillingModelRow is one model's month.
type BillingModelRow struct {
	Model string
	BillingAmounts
}

// BillingDayRow is one day: Day is midnight of that day in the billing zone.
type BillingDayRow struct {
	Day time.Time
	BillingAmounts
}

// UserBilling is one user's month in detail.
type UserBilling struct {
	UserOID string
	Month   Month
	Totals  BillingAmounts
	Apps    []BillingAppRow
	Models  []BillingModelRow
	Days    []BillingDayRow
	// Rows are the user's rollup rows, by day, then app id, then model.
	Rows []UserRollupRow
}

// UserRollupRow is one UsageRollups row of a user, with its app's name and
// owner ("" when unknown); back-ends fold them with NewUserBilling.
type UserRollupRow struct {
	Day      time.Time
	AppID    string
	AppName  string
	AppOwner string
	Model    string
	BillingAmounts
}

// NewUserBilling folds one user's rollup rows of month m into totals and
// breakdowns: apps and models by cost descending then id, days in order.
func NewUserBilling(userOID string, m Month, rows []UserRollupRow) UserBilling {
	ub := UserBilling{UserOID: userOID, Month: m, Apps: []BillingAppRow{},
		Models: []BillingModelRow{}, Days: []BillingDayRow{}, Rows: slices.Clone(rows)}
	if ub.Rows == nil {
		ub.Rows = []UserRollupRow{}
	}
	slices.SortFunc(ub.Rows, func(a, b UserRollupRow) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), cmp.Compare(a.Model, b.Model))
	})
	apps := map[string]int{}
	models := map[string]int{}
	days := map[time.Time]int{}
	for _, r := range rows {
		ub.Totals = ub.Totals.Add(r.BillingAmounts)
		i, ok := apps[r.AppID]
		if !ok {
			i = len(ub.Apps)
			apps[r.AppID] = i
			ub.Apps = append(ub.Apps, BillingAppRow{AppID: r.AppID, Name: r.AppName, OwnerID: r.AppOwner})
		}
		ub.Apps[i].BillingAmounts = ub.Apps[i].BillingAmounts.Add(r.BillingAmounts)
		i, ok = models[r.Model]
		if !ok {
			i = len(ub.Models)
			models[r.Model] = i
			ub.Models = append(ub.Models, BillingModelRow{Model: r.Model})
		}
		ub.Models[i].BillingAmounts = ub.Models[i].BillingAmounts.Add(r.BillingAmounts)
		i, ok = days[r.Day]
		if !ok {
			i = len(ub.Days)
			days[r.Day] = i
			ub.Days = append(ub.Days, BillingDayRow{Day: r.Day})
		}
		ub.Days[i].BillingAmounts = ub.Days[i].BillingAmounts.Add(r.BillingAmounts)
	}
	slices.SortFunc(ub.Apps, func(a, b BillingAppRow) int {
		return byCostThen(a.Cost, b.Cost, a.AppID, b.AppID)
	})
	slices.SortFunc(ub.Models, func(a, b BillingModelRow) int {
		return byCostThen(a.Cost, b.Cost, a.Model, b.Model)
	})
	slices.SortFunc(ub.Days, func(a, b BillingDayRow) int { return a.Day.Compare(b.Day) })
	return ub
}

// byCostThen orders by cost descending, then by id ascending.
func byCostThen(ca, cb money.Nanos, ia, ib string) int {
	if c := cmp.Compare(cb, ca); c != 0 {
		return c
	}
	return cmp.Compare(ia, ib)
}

// BillingDay is the rollup day d (YYYY-MM-DD) as midnight in loc.
func BillingDay(d string, loc *time.Location) (time.Time, error) {
	t, err := time.ParseInLocation(DayLayout, d, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("rollup day %q: %w", d, err)
	}
	return t, nil
}

// ContainsPattern is the LIKE pattern (escape character '\') matching any
// text that contains s literally.
func ContainsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}
