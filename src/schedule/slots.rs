//! Where runs train: device specs as the command line and sweep options write
//! them (`cpu`, `cuda:N`), and the slots a scheduler fills (a place for one run
//! at a time on a device).
use std::fmt;
use std::str::FromStr;

use anyhow::bail;

/// Where a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = anyhow::Error;

    /// `cpu`, `cuda` (= `cuda:0`) or `cuda:N`.
    fn from_str(s: &str) -> anyhow::Result<Self> {
        let s = s.trim();
        match s {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(DeviceSpec::Cuda(i)),
                _ => bail!("unknown device `{s}` (expected cpu, cuda or cuda:N)"),
            },
        }
    }
}

/// A comma-separated device list: `cpu`, `cuda:0,cuda:1`.
pub fn parse_devices(s: &str) -> anyhow::Result<Vec<DeviceSpec>> {
    let devices = s.split(',').filter(|x| !x.trim().is_empty()).map(str::parse).collect::<anyhow::Result<Vec<_>>>()?;
    if devices.is_empty() {
        bail!("no devices given");
    }
    Ok(devices)
}

/// The devices a command line names (`--devices`), parsed where it is read:
/// `auto` (every GPU this process sees, else the CPU; resolved where libtorch
/// is) or a list (`cpu`, `cuda:0,cuda:1`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Devices {
    #[default]
    Auto,
    List(Vec<DeviceSpec>),
}

impl FromStr for Devices {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.trim() {
            "auto" => Ok(Devices::Auto),
            list => parse_devices(list).map(Devices::List),
        }
    }
}

impl fmt::Display for Devices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Devices::Auto => f.write_str("auto"),
            Devices::List(list) => {
                let names: Vec<String> = list.iter().map(DeviceSpec::to_string).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

/// A place for one run at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub index: usize,
    pub device: DeviceSpec,
}

/// `per_device` slots on each device, interleaved (slot 0 on the first device,
/// slot 1 on the second...) so the first runs spread over all devices.
pub fn make_slots(devices: &[DeviceSpec], per_device: usize) -> Vec<Slot> {
    (0..per_device)
        .flat_map(|_| devices.iter().copied())
        .enumerate()
        .map(|(index, device)| Slot { index, device })
        .collect()
}
