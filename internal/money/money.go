// Package money holds the integer money units of the gateway. Money is never a
// float: prices are micro-USD per million tokens, costs are nano-USD.
package money

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Micros is an amount in micro-USD (1e-6 USD). Prices per one million tokens use it.
type Micros int64

// Nanos is an amount in nano-USD (1e-9 USD). Costs and budgets use it.
type Nanos int64

// PerToken converts a price per million tokens (micro-USD) times a token count to
// nano-USD exactly: tokens * micros / 1e6 USD-micro = tokens*micros/1000 nano-USD.
// It rounds up fractions of a nano-dollar so a bill is never under-counted; the
// rounding is at most one nano-dollar per call.
func PerToken(tokens int64, pricePer1M Micros) Nanos {
	if tokens <= 0 || pricePer1M <= 0 {
		return 0
	}
	p := tokens * int64(pricePer1M)
	return Nanos((p + 999) / 1000)
}

// ParseUSD parses a decimal USD amount ("2.5", "0.000150", "3") into micro-USD
// without going through a float. More than 6 decimal places is an error.
func ParseUSD(s string) (Micros, error) {
	return parseDecimal(s, 6)
}

// ParseUSDNanos parses a decimal USD amount into nano-USD (up to 9 decimal places).
func ParseUSDNanos(s string) (Nanos, error) {
	v, err := parseDecimal(s, 9)
	return Nanos(v), err
}

func parseDecimal(s string, places int) (Micros, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty amount")
	}
	// Accept JSON exponent forms like 1e-6 by going through big.Rat exactly.
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil))
	r.Mul(r, scale)
	if !r.IsInt() {
		return 0, fmt.Errorf("%q has more than %d decimal places", s, places)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Micros(n.Int64()), nil
}

// USD renders micro-USD as a decimal string with up to six places.
func (m Micros) USD() string { return formatDecimal(int64(m), 6) }

// USD renders nano-USD as a decimal string with up to nine places.
func (n Nanos) USD() string { return formatDecimal(int64(n), 9) }

// MarshalUSD renders micro-USD as a JSON number (for API responses).
func (m Micros) MarshalUSD() json.Number { return json.Number(m.USD()) }

// JSON renders nano-USD as a JSON number.
func (n Nanos) JSON() json.Number { return json.Number(n.USD()) }

func formatDecimal(v int64, places int) string {
	neg := v < 0
	if neg {
		v = -v
	}
	unit := int64(1)
	for i := 0; i < places; i++ {
		unit *= 10
	}
	whole, frac := v/unit, v%unit
	s := strconv.FormatInt(whole, 10)
	if frac != 0 {
		f := fmt.Sprintf("%0*d", places, frac)
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		s = "-" + s
	}
	return s
}
