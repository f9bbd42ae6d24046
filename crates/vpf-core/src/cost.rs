//! What a job cost in Function Compute 3.0's billing terms.
//!
//! FC 3.0 bills every resource in compute units (CU): each invocation, the
//! active vCPU-seconds, the memory GB-seconds and the disk GB-seconds of an
//! instance while it handles a request, each times a conversion factor, and
//! the month's CU at a unit price. The factors and the price are Alibaba
//! Cloud's "Pay-as-you-go" page for Function Compute
//! (https://help.aliyun.com/en/functioncompute/fc/product-overview/pay-as-you-go-billing-methods,
//! also "Billing overview",
//! https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/product-overview/billing-overview-1):
//! 75 CU per 10,000 invocations, 1 CU per active vCPU-second, 0.15 CU per
//! GB-second of memory, 0.05 CU per GB-second of disk; USD 0.000020 per CU
//! in the first tier (up to 100 million CU a month). On-demand CPU
//! instances are billed by the millisecond.
//!
//! Each handler records every invocation (function, wall seconds) in the
//! job's NAS folder ([`crate::nas::JobDir::metered`]); after-process folds
//! them with each function's size from s.yaml ([`FunctionSizes`], the
//! `FUNCTION_SIZES` variable) into a [`JobCost`] in the manifest.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// CU per invocation (75 per 10,000).
pub const CU_PER_INVOCATION: f64 = 75.0 / 10_000.0;
/// CU per active vCPU-second.
pub const CU_PER_VCPU_SECOND: f64 = 1.0;
/// CU per GB-second of memory.
pub const CU_PER_MEMORY_GB_SECOND: f64 = 0.15;
/// CU per GB-second of disk.
pub const CU_PER_DISK_GB_SECOND: f64 = 0.05;
/// Disk every instance has without charge: FC's default disk size. Only a
/// larger disk (10 GB for the heavy steps) is billed, for the part above it.
pub const FREE_DISK_MB: f64 = 512.0;
/// FC sizes memory and disk in MB; a GB-second is 1024 MB for a second.
const MB_PER_GB: f64 = 1024.0;
/// The first pay-as-you-go tier's price per CU (`CU_PRICE`).
pub const DEFAULT_CU_PRICE: f64 = 0.000020;
/// The currency of [`DEFAULT_CU_PRICE`] (`CURRENCY`).
pub const DEFAULT_CURRENCY: &str = "USD";

/// The deployable functions that work on a job (oss-trigger runs once per
/// event, before a job exists, and has no NAS to record in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    Split,
    Transcode,
    Merge,
    AfterProcess,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Function::Split,
        Function::Transcode,
        Function::Merge,
        Function::AfterProcess,
    ];

    /// The resource name in s.yaml (`resources.<name>`) and in `FUNCTION_SIZES`.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Split => "split",
            Function::Transcode => "transcode",
            Function::Merge => "merge",
            Function::AfterProcess => "after-process",
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Function {
    type Err = Error;
    fn from_str(s: &str) -> Result<Function> {
        Function::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{s:?} is not a function of the job (one of {})",
                    names()
                ))
            })
    }
}

fn names() -> String {
    Function::ALL.map(Function::as_str).join(", ")
}

/// One function's size as deployed: s.yaml's `cpu`, `memorySize`, `diskSize`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSize {
    pub vcpu: f64,
    pub memory_mb: u32,
    pub disk_mb: u32,
}

impl FunctionSize {
    /// CU per second of one invocation of this size (vCPU, memory and the
    /// billed disk together).
    pub fn cu_per_second(&self) -> f64 {
        self.vcpu * CU_PER_VCPU_SECOND
            + self.memory_gb() * CU_PER_MEMORY_GB_SECOND
            + self.billed_disk_gb() * CU_PER_DISK_GB_SECOND
    }
    pub fn memory_gb(&self) -> f64 {
        f64::from(self.memory_mb) / MB_PER_GB
    }
    /// The disk above the free [`FREE_DISK_MB`], in GB.
    pub fn billed_disk_gb(&self) -> f64 {
        (f64::from(self.disk_mb) - FREE_DISK_MB).max(0.0) / MB_PER_GB
    }
}

impl FromStr for FunctionSize {
    type Err = Error;
    /// `4/8192/10240`: vCPU, memory MB, disk MB.
    fn from_str(s: &str) -> Result<FunctionSize> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "{s:?} is not a function size: {why} (vCPU/memory MB/disk MB, e.g. 4/8192/10240)"
            ))
        };
        let parts: Vec<&str> = s.split('/').map(str::trim).collect();
        let [vcpu, memory, disk] = parts[..] else {
            return Err(bad("three numbers separated by '/' are needed"));
        };
        let vcpu: f64 = vcpu.parse().map_err(|_| bad("the vCPU is not a number"))?;
        if !(vcpu.is_finite() && vcpu > 0.0) {
            return Err(bad("the vCPU must be above 0"));
        }
        let memory_mb: u32 = memory
            .parse()
            .map_err(|_| bad("the memory is not a whole number of MB"))?;
        let disk_mb: u32 = disk
            .parse()
            .map_err(|_| bad("the disk is not a whole number of MB"))?;
        if memory_mb == 0 || disk_mb == 0 {
            return Err(bad("memory and disk must be above 0"));
        }
        Ok(FunctionSize {
            vcpu,
            memory_mb,
            disk_mb,
        })
    }
}

/// Every job function's size (`FUNCTION_SIZES`): all four are required, so
/// a cost is never computed with a guessed size.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSizes(pub BTreeMap<Function, FunctionSize>);

impl FunctionSizes {
    pub fn get(&self, f: Function) -> Option<&FunctionSize> {
        self.0.get(&f)
    }
}

impl FromStr for FunctionSizes {
    type Err = Error;
    /// `split=4/8192/10240, transcode=4/8192/10240, merge=4/8192/10240,
    /// after-process=0.35/512/512` (comma-separated, any order).
    fn from_str(s: &str) -> Result<FunctionSizes> {
        let mut sizes = BTreeMap::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, size) = item.split_once('=').ok_or_else(|| {
                Error::invalid(format!(
                    "{item:?} is not <function>=<vCPU>/<memory MB>/<disk MB>"
                ))
            })?;
            let f: Function = name.trim().parse()?;
            let size: FunctionSize = size
                .parse()
                .map_err(|e: Error| Error::invalid(format!("{f}: {}", e.message)))?;
            if sizes.insert(f, size).is_some() {
                return Err(Error::invalid(format!("{f} is sized twice")));
            }
        }
        let missing: Vec<&str> = Function::ALL
            .into_iter()
            .filter(|f| !sizes.contains_key(f))
            .map(Function::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(format!(
                "no size for {} (every one of {} is needed)",
                missing.join(", "),
                names()
            )));
        }
        Ok(FunctionSizes(sizes))
    }
}

/// The unit price (`CU_PRICE`, `CURRENCY`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pricing {
    pub cu_price: f64,
    pub currency: String,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            cu_price: DEFAULT_CU_PRICE,
            currency: DEFAULT_CURRENCY.into(),
        }
    }
}

impl Pricing {
    pub fn validate(&self) -> Result<()> {
        if !(self.cu_price.is_finite() && self.cu_price >= 0.0) {
            return Err(Error::invalid(format!(
                "the CU price {} must be a number of 0 or more",
                self.cu_price
            )));
        }
        let c = self.currency.trim();
        if c.is_empty() || c.len() > 8 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(Error::invalid(format!(
                "the currency {:?} must be a code of letters such as USD or CNY",
                self.currency
            )));
        }
        Ok(())
    }
}

/// What after-process needs to price a job.
#[derive(Debug, Clone, PartialEq)]
pub struct CostSettings {
    pub sizes: FunctionSizes,
    pub pricing: Pricing,
}

/// One invocation of a job function, as its handler recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    pub function: Function,
    /// Wall time of the whole invocation.
    pub seconds: f64,
}

/// The seconds FC bills for one on-demand invocation: rounded up to the
/// millisecond.
pub fn billed_seconds(seconds: f64) -> f64 {
    (seconds.max(0.0) * 1000.0).ceil() / 1000.0
}

/// Resource use and its price: one function's line, or the job's total.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub invocations: u32,
    /// Billed seconds, summed over the invocations.
    pub seconds: f64,
    pub vcpu_seconds: f64,
    pub memory_gb_seconds: f64,
    /// Disk above the free 512 MB.
    pub disk_gb_seconds: f64,
    pub cu: f64,
    pub amount: f64,
}

impl Usage {
    fn add(&mut self, o: &Usage) {
        self.invocations += o.invocations;
        self.seconds += o.seconds;
        self.vcpu_seconds += o.vcpu_seconds;
        self.memory_gb_seconds += o.memory_gb_seconds;
        self.disk_gb_seconds += o.disk_gb_seconds;
        self.cu += o.cu;
        self.amount += o.amount;
    }
}

/// One function's share of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepCost {
    pub function: Function,
    pub size: FunctionSize,
    #[serde(flatten)]
    pub usage: Usage,
}

/// What a job cost, per function and in total (`Manifest::cost`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCost {
    pub cu_price: f64,
    pub currency: String,
    /// In pipeline order; a function that never ran has no line.
    pub steps: Vec<StepCost>,
    pub total: Usage,
}

impl JobCost {
    /// Price the recorded invocations. An invocation of a function without
    /// a size cannot happen with [`FunctionSizes`] from its parser (it
    /// requires every function); it would be left out, not guessed.
    pub fn compute(invocations: &[Invocation], settings: &CostSettings) -> JobCost {
        let mut steps: Vec<StepCost> = Vec::new();
        for f in Function::ALL {
            let Some(size) = settings.sizes.get(f) else {
                continue;
            };
            let mut n = 0u32;
            let mut seconds = 0.0;
            for i in invocations.iter().filter(|i| i.function == f) {
                n += 1;
                seconds += billed_seconds(i.seconds);
            }
            if n == 0 {
                continue;
            }
            let vcpu_seconds = size.vcpu * seconds;
            let memory_gb_seconds = size.memory_gb() * seconds;
            let disk_gb_seconds = size.billed_disk_gb() * seconds;
            let cu = f64::from(n) * CU_PER_INVOCATION
                + vcpu_seconds * CU_PER_VCPU_SECOND
                + memory_gb_seconds * CU_PER_MEMORY_GB_SECOND
                + disk_gb_seconds * CU_PER_DISK_GB_SECOND;
            steps.push(StepCost {
                function: f,
                size: *size,
                usage: Usage {
                    invocations: n,
                    seconds,
                    vcpu_seconds,
                    memory_gb_seconds,
                    disk_gb_seconds,
                    cu,
                    amount: cu * settings.pricing.cu_price,
                },
            });
        }
        let mut total = Usage::default();
        for s in &steps {
            total.add(&s.usage);
        }
        JobCost {
            cu_price: settings.pricing.cu_price,
            currency: settings.pricing.currency.clone(),
            steps,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CostSettings {
        CostSettings {
            sizes: "split=4/8192/10240, transcode=4/8192/10240, merge=4/8192/10240, after-process=0.35/512/512"
                .parse()
                .unwrap(),
            pricing: Pricing::default(),
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    /// Worked by hand. A 4 vCPU / 8 GB / 10 GB instance costs per second
    /// 4 (vCPU) + 8 × 0.15 (memory) + 9.5 × 0.05 (disk above 512 MB)
    /// = 5.675 CU; 0.35 vCPU / 512 MB / 512 MB costs 0.35 + 0.5 × 0.15 =
    /// 0.425 CU. Each invocation adds 0.0075 CU.
    #[test]
    fn a_job_is_priced_as_worked_by_hand() {
        let inv = |function, seconds| Invocation { function, seconds };
        let cost = JobCost::compute(
            &[
                inv(Function::Transcode, 10.0),
                inv(Function::Split, 2.0),
                inv(Function::Transcode, 12.0004), // billed 12.001
                inv(Function::Merge, 3.0),
                inv(Function::AfterProcess, 0.2),
            ],
            &settings(),
        );
        let names: Vec<Function> = cost.steps.iter().map(|s| s.function).collect();
        assert_eq!(names, Function::ALL);
        let split = &cost.steps[0].usage;
        assert_eq!(split.invocations, 1);
        assert!(close(split.vcpu_seconds, 8.0));
        assert!(close(split.memory_gb_seconds, 16.0));
        assert!(close(split.disk_gb_seconds, 19.0));
        // 0.0075 + 2 × 5.675
        assert!(close(split.cu, 11.3575), "{}", split.cu);
        let transcode = &cost.steps[1].usage;
        assert_eq!(transcode.invocations, 2);
        assert!(close(transcode.seconds, 22.001));
        // 2 × 0.0075 + 22.001 × 5.675
        assert!(close(transcode.cu, 124.870675), "{}", transcode.cu);
        // 0.0075 + 3 × 5.675
        assert!(close(cost.steps[2].usage.cu, 17.0325));
        let after = &cost.steps[3].usage;
        assert!(close(after.disk_gb_seconds, 0.0), "512 MB of disk is free");
        // 0.0075 + 0.2 × 0.425
        assert!(close(after.cu, 0.0925), "{}", after.cu);
        let total = 11.3575 + 124.870675 + 17.0325 + 0.0925;
        assert!(close(cost.total.cu, total));
        assert_eq!(cost.total.invocations, 5);
        assert!(close(cost.total.amount, total * 0.000020));
        assert!(close(cost.total.seconds, 2.0 + 22.001 + 3.0 + 0.2));
        assert_eq!(cost.currency, "USD");
    }

    #[test]
    fn functions_that_did_not_run_have_no_line() {
        let cost = JobCost::compute(
            &[Invocation {
                function: Function::AfterProcess,
                seconds: 0.0,
            }],
            &settings(),
        );
        assert_eq!(cost.steps.len(), 1);
        assert!(close(cost.total.cu, CU_PER_INVOCATION));
    }

    #[test]
    fn sizes_are_parsed_and_checked() {
        let s = settings().sizes;
        assert_eq!(
            s.get(Function::AfterProcess),
            Some(&FunctionSize {
                vcpu: 0.35,
                memory_mb: 512,
                disk_mb: 512
            })
        );
        let err = |v: &str| v.parse::<FunctionSizes>().unwrap_err().message;
        assert!(err("split=4/8192/10240").contains("no size for transcode, merge, after-process"));
        assert!(err("splat=4/8192/10240").contains("\"splat\" is not a function"));
        assert!(err("split=4/8192").contains("three numbers"));
        assert!(err("split=0/8192/10240").contains("above 0"));
        assert!(err("split=4/8GB/10240").contains("memory is not a whole number"));
        assert!(err("split 4/8192/10240").contains("is not <function>="));
        assert!(err("split=4/8192/10240, split=4/8192/10240").contains("split is sized twice"));
    }

    #[test]
    fn prices_are_checked() {
        assert!(Pricing::default().validate().is_ok());
        let p = |cu_price: f64, currency: &str| Pricing {
            cu_price,
            currency: currency.into(),
        };
        assert!(p(-1.0, "USD").validate().is_err());
        assert!(p(f64::NAN, "USD").validate().is_err());
        assert!(p(0.00011, "").validate().is_err());
        assert!(p(0.00011, "C$").validate().is_err());
        assert!(p(0.00011, "CNY").validate().is_ok());
    }

    #[test]
    fn camel_case_on_the_wire() {
        let cost = JobCost::compute(
            &[Invocation {
                function: Function::AfterProcess,
                seconds: 1.0,
            }],
            &settings(),
        );
        let v = serde_json::to_value(&cost).unwrap();
        assert_eq!(v["steps"][0]["function"], "after-process");
        assert_eq!(v["steps"][0]["size"]["memoryMb"], 512);
        assert!(v["steps"][0]["vcpuSeconds"].is_number());
        assert!(v["total"]["memoryGbSeconds"].is_number());
        assert_eq!(v["cuPrice"], 0.00002);
        let back: JobCost = serde_json::from_value(v).unwrap();
        assert_eq!(back, cost);
    }
}
