/**
 * The peggy grammar of the one-line rule expression. A string in a module
 * rather than a .peggy file, so a `tsc` build into dist/ carries it along.
 *
 * It yields a small syntax tree whose numbers, durations and scope values
 * carry their offsets; expression.ts turns that into a RuleSpec and points
 * schema errors at the column. Keywords end at a word boundary (`!W`), so
 * `speedy` is not `speed`. Leaf rules have display names: an error then
 * says "a number" instead of listing character classes.
 */
export const RULE_GRAMMAR = String.raw`
Expression
  = _ condition:Condition tail:(_ @Tail)* _ { return { condition, tail }; }

Condition
  = KindStart @(Threshold / WrongGear / Harsh / Stuck / Silence / Baseline)

KindStart "a rule kind (speed, rpm, gear, wrong gear, harsh braking, harsh acceleration, stuck, silent, baseline)"
  = &(("speed"i / "rpm"i / "gear"i / "wrong_gear"i / "wrong"i / "harsh"i / "hard"i / "stuck"i / "silent"i / "silence"i / "no"i / "baseline"i) !W)

// ---- conditions

Threshold
  = field:Field _ op:Comparator _ value:Number unit:(_ @KmHAt)? seconds:(_ For _ @Duration)?
    { return { kind: "threshold", field, op, value, for_seconds: seconds, unit }; }

Field
  = @("speed"i { return "speed"; } / "rpm"i { return "rpm"; } / "gear"i { return "gear"; }) !W

Comparator "a comparison (>, >=, <, <=)"
  = (">=" / "≥" / "at"i !W _ "least"i !W) { return ">="; }
  / (">" / ("above"i / "over"i) !W) { return ">"; }
  / ("<=" / "≤" / "at"i !W _ "most"i !W) { return "<="; }
  / ("<" / ("below"i / "under"i) !W) { return "<"; }

WrongGear
  = ("wrong"i !W _ "gear"i !W / "wrong_gear"i !W) tolerance:(_ "tolerance"i !W _ @Number)?
    { return { kind: "wrong_gear", tolerance }; }

Harsh
  = ("harsh"i / "hard"i) !W _ kind:HarshKind _ (Above _)? kmh_per_s:Number (_ HarshUnit)?
    { return { kind, kmh_per_s }; }

HarshKind "braking or acceleration"
  = ("braking"i / "brakes"i / "brake"i) !W { return "harsh_braking"; }
  / ("acceleration"i / "accelerating"i / "accel"i) !W { return "harsh_acceleration"; }

Above
  = ">" / ("above"i / "over"i) !W

HarshUnit '"km/h/s"'
  = "km/h/s"i / "kmh/s"i

Stuck
  = "stuck"i !W _ field:StuckField (_ "sensor"i !W)? _ For _ readings:Number _ Readings
    { return { kind: "stuck_sensor", field, readings }; }

StuckField
  = @("speed"i { return "speed"; } / "rpm"i { return "rpm"; }) !W

Silence
  = (("silent"i / "silence"i) !W / "no"i !W _ "data"i !W) _ For _ minutes:Duration
    { return { kind: "silence", minutes }; }

Baseline
  = "baseline"i !W _ field:("rpm"i !W { return "rpm"; }) _ ("z"i !W / "|z|") _ ">" _ k:Number options:(_ @BaselineOption)*
    { return { kind: "baseline", field, k, options }; }

BaselineOption
  = "after"i !W _ value:Number _ Readings { return { key: "warmup", at: offset(), value }; }
  / "alpha"i !W _ value:Number { return { key: "alpha", at: offset(), value }; }
  / "band"i !W _ value:Number (_ KmH)? { return { key: "band_kmh", at: offset(), value }; }

// ---- scope and options, in any order after the condition

Tail
  = Scope / Severity / Clear

Scope
  = "where"i !W _ predicates:Predicate|1.., (_ "and"i !W _)|
    { return { type: "scope", at: offset(), predicates }; }

Predicate
  = key:CarKey _ values:(("=" / Is) _ n:CarNumber { return [n]; } / In _ "(" _ @CarNumber|1.., _ "," _| _ ")")
    { return { key, at: offset(), values }; }
  / key:NameKey _ values:(("=" / Is) _ v:Value { return [v]; } / In _ "(" _ @Value|1.., _ "," _| _ ")")
    { return { key, at: offset(), values }; }

CarKey "a scope key (brand, model, color, car)"
  = ("car_ids"i / "car_id"i / "cars"i / "car"i) !W { return "car_ids"; }

NameKey "a scope key (brand, model, color, car)"
  = ("brands"i / "brand"i) !W { return "brands"; }
  / ("models"i / "model"i) !W { return "models"; }
  / ("colors"i / "color"i / "colours"i / "colour"i) !W { return "colors"; }

Is = "is"i !W
In = "in"i !W

CarNumber "a car number"
  = Number

Value "a value"
  = '"' chars:('\\' @["\\] / [^"\\])* '"' { return { value: chars.join(""), at: offset() }; }
  / [A-Za-z0-9_.-]+ { return { value: text(), at: offset() }; }

Severity
  = "severity"i !W _ level:Level { return { type: "severity", at: offset(), level }; }

Level "a severity (low, medium, high)"
  = "low"i !W { return "low"; }
  / ("medium"i / "med"i) !W { return "medium"; }
  / "high"i !W { return "high"; }

Clear
  = ClearWord _ ("after"i !W _)? duration:Duration { return { type: "clear", at: offset(), duration }; }

// ---- tokens

ClearWord '"clear"'
  = ("clears"i / "clear"i) !W

For = "for"i !W

Readings = ("readings"i / "reading"i) !W

KmHAt
  = KmH { return offset(); }

KmH '"km/h"'
  = "km/h"i / "kmh"i / "kph"i

Duration
  = number:Number _ unit:TimeUnit { return { amount: number.value, unit, at: number.at }; }

TimeUnit "a time unit (s, min, h)"
  = ("seconds"i / "second"i / "secs"i / "sec"i / "s"i) !W { return 1; }
  / ("minutes"i / "minute"i / "mins"i / "min"i / "m"i) !W { return 60; }
  / ("hours"i / "hour"i / "hrs"i / "hr"i / "h"i) !W { return 3600; }

Number "a number"
  = "-"? [0-9]+ ("." [0-9]+)? ([eE] [+-]? [0-9]+)? { return { value: Number(text()), at: offset() }; }

W = [A-Za-z0-9_]

_ "whitespace"
  = [ \t\r\n\u00a0]*
`;
