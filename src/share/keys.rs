//! The keys a link holds: the experiment settings' tables (`train::schema` and the image, GAN and
//! table experiments' own) and the link's own fields ([`FIELDS`]: backend, steps trained, changes
//! made while training, page and stepper view), in the one order links are written and applied.

use super::*;

/// One of the link's own fields (not an experiment setting), on the whole link state.
pub type Field = schema::Field<ShareState>;

const BACKENDS: [BackendChoice; 3] = [BackendChoice::Auto, BackendChoice::Cpu, BackendChoice::Webgpu];

const PAGES: [Page; 5] = [Page::Play, Page::Step, Page::Mnist, Page::Gan, Page::Table];

fn page_key(p: &Page) -> &'static str {
    match p {
        Page::Play => "play",
        Page::Step => "step",
        Page::Mnist => "mnist",
        Page::Gan => "gan",
        Page::Table => "table",
    }
}

fn preset_keys() -> Vec<&'static str> {
    std::iter::once("none").chain(crate::stepper::PRESETS.iter().map(|p| p.key)).collect()
}

fn backend_key(b: &BackendChoice) -> &'static str {
    match b {
        BackendChoice::Auto => "auto",
        BackendChoice::Cpu => "cpu",
        BackendChoice::Webgpu => "webgpu",
    }
}

/// The link's own fields, written and applied after the experiment's settings.
pub static FIELDS: &[Field] = &[
    Field {
        key: "backend",
        default: "auto",
        expected: "auto, cpu or webgpu",
        get: |s| backend_key(&s.backend).into(),
        set: |s, v| Ok(s.backend = choice(v, &BACKENDS, backend_key)?),
    },
    Field {
        key: "steps",
        default: "0",
        expected: "a whole number from 0 to 1000000",
        get: |s| s.steps.to_string(),
        set: |s, v| Ok(s.steps = int(v, 0, 1_000_000)?),
    },
    Field {
        key: "changes",
        default: "none",
        expected: "'none', or STEP_KEY_VALUE entries joined by '+' in step order (KEY: opt, lr, dropout, reg, regrate or batch), e.g. 300_lr_0.01",
        get: |s| {
            if s.changes.is_empty() {
                return "none".into();
            }
            s.changes.iter().map(|c| format!("{}_{}_{}", c.step, c.key, c.value)).collect::<Vec<_>>().join("+")
        },
        set: |s, v| {
            let mut changes = Vec::new();
            if v != "none" {
                for entry in v.split('+') {
                    let mut parts = entry.splitn(3, '_');
                    let (Some(step), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
                        return Err(format!("'{}' is not STEP_KEY_VALUE", shown(entry)));
                    };
                    let step = int(step, 0, 1_000_000)?;
                    if !LIVE_KEYS.contains(&key) {
                        return Err(format!("'{}' cannot change while training", shown(key)));
                    }
                    if changes.last().is_some_and(|c: &Change| c.step > step) {
                        return Err("the changes are not in step order".into());
                    }
                    changes.push(Change { step, key: key.to_string(), value: value.to_string() });
                }
            }
            if changes.len() > MAX_CHANGES {
                return Err(format!("{} changes is more than {MAX_CHANGES}", changes.len()));
            }
            // Every change must be valid where it applies.
            let mut config = s.config.clone();
            for c in &changes {
                config = apply_change(&config, c)?;
            }
            s.changes = changes;
            Ok(())
        },
    },
    Field {
        key: "gan.steps",
        default: "0",
        expected: "the GAN's steps in order: N (full steps), dN (discriminator only), gN (generator only), joined by '+', e.g. 300+d2+g1",
        get: |s| if s.gan_steps.0.is_empty() { "0".into() } else { s.gan_steps.encode() },
        set: |s, v| Ok(s.gan_steps = if v == "0" { StepLog::default() } else { StepLog::decode(v)? }),
    },
    Field {
        key: "mnist.trained",
        default: "none",
        expected: "none, or EPOCHS_ACCURACY: the epochs the link's MNIST run trained and the test accuracy (%) it reached, e.g. 10_97.75",
        get: |s| s.mnist_trained.map_or("none".into(), |r| r.encode()),
        set: |s, v| Ok(s.mnist_trained = if v == "none" { None } else { Some(TrainedRun::decode(v)?) }),
    },
    Field {
        key: "tab.data",
        default: "adult",
        expected: "adult (the Adult census table), file (a CSV file of your own, asked for when the link opens) or link (a CSV file of your own, carried in tab.csv)",
        get: |s| table_source_key(&s.tab_data).into(),
        set: |s, v| Ok(s.tab_data = choice(v, &TABLE_SOURCES, table_source_key)?),
    },
    Field {
        key: "tab.csv",
        default: "none",
        expected: "none, or the table itself: its CSV zlib-compressed, in base64url (the page writes it for a table small enough)",
        get: |s| s.tab_csv.clone().unwrap_or_else(|| "none".into()),
        set: |s, v| {
            if v == "none" {
                s.tab_csv = None;
            } else {
                table::unpack(v)?;
                s.tab_csv = Some(v.to_string());
            }
            Ok(())
        },
    },
    Field {
        key: "search",
        default: crate::train::search::PLAYGROUND_SPEC,
        expected: "the playground's search: MODE,TRIALS,EPOCHS,SETTING=VALUES,… — MODE grid or random; SETTING lr, width (1 to 16), depth (0 to 6), dropout, batch or l2; VALUES lo..hi or a|b|c (e.g. random,12,100,lr=0.003..1,width=2|4|8)",
        get: |s| s.search.encode(),
        set: |s, v| Ok(s.search = crate::train::search::SearchSpec::decode_for::<crate::train::Config>(v)?),
    },
    Field {
        key: "mnist.search",
        default: crate::train::search::MNIST_SPEC,
        expected: "the MNIST page's search: MODE,TRIALS,EPOCHS,SETTING=VALUES,… — MODE grid or random; EPOCHS 1 to 10; SETTING lr, width (1 to 1024), dropout, batch (1 to 1000) or l2; VALUES lo..hi or a|b|c (e.g. random,6,1,lr=0.0001..0.03,batch=32|64|128)",
        get: |s| s.mnist_search.encode(),
        set: |s, v| Ok(s.mnist_search = crate::train::search::SearchSpec::decode_for::<ImageConfig>(v)?),
    },
    Field {
        key: "tab.search",
        default: crate::train::search::DEFAULT_SPEC,
        expected: "MODE,TRIALS,EPOCHS,SETTING=VALUES,… — MODE grid or random; SETTING lr, width, depth, dropout, batch or l2; VALUES lo..hi or a|b|c (e.g. random,6,2,lr=0.0001..0.01,width=16|64)",
        get: |s| s.tab_search.encode(),
        set: |s, v| Ok(s.tab_search = crate::train::search::SearchSpec::decode(v)?),
    },
    Field {
        key: "page",
        default: "play",
        expected: "play, step, mnist, gan or table",
        get: |s| page_key(&s.view.page).into(),
        set: |s, v| Ok(s.view.page = choice(v, &PAGES, page_key)?),
    },
    Field {
        key: "preset",
        default: "none",
        expected: "none, xor-2-2-1, essay-relu or essay-sigmoid",
        get: |s| s.view.preset.clone().unwrap_or_else(|| "none".into()),
        set: |s, v| {
            let key = choice(v, &preset_keys(), |k| k)?;
            s.view.preset = (key != "none").then(|| key.to_string());
            Ok(())
        },
    },
    Field {
        key: "stage",
        default: "0",
        expected: "a whole number from 0 to 100000 (the stepper's stage, from 0)",
        get: |s| s.view.stage.to_string(),
        set: |s, v| Ok(s.view.stage = int(v, 0, 100_000)? as u32),
    },
];

/// One key of a link: an experiment setting (`train::schema`) or one of the link's own fields.
#[derive(Clone, Copy)]
pub enum Key {
    /// A `Config` value.
    Setting(&'static Setting),
    /// Backend, steps, changes or view.
    Link(&'static Field),
    /// An `ImageConfig` value (`mnist.*`).
    Image(&'static ImageSetting),
    /// A `GanConfig` value (`gan.*`).
    Gan(&'static GanSetting),
    /// A `TabularConfig` value (`tab.*`).
    Tab(&'static TabularSetting),
}

impl Key {
    /// The key as written in a link.
    pub fn name(&self) -> &'static str {
        match self {
            Key::Setting(s) => s.key,
            Key::Link(f) => f.key,
            Key::Image(i) => i.key,
            Key::Gan(g) => g.key,
            Key::Tab(t) => t.key,
        }
    }

    /// The default value, as written in a link.
    pub fn default_value(&self) -> &'static str {
        match self {
            Key::Setting(s) => s.default,
            Key::Link(f) => f.default,
            Key::Image(i) => i.default,
            Key::Gan(g) => g.default,
            Key::Tab(t) => t.default,
        }
    }

    /// What a valid value looks like.
    pub fn expected(&self) -> &'static str {
        match self {
            Key::Setting(s) => s.expected,
            Key::Link(f) => f.expected,
            Key::Image(i) => i.expected,
            Key::Gan(g) => g.expected,
            Key::Tab(t) => t.expected,
        }
    }

    /// The value in `state`, as written in a link.
    pub fn get(&self, state: &ShareState) -> String {
        match self {
            Key::Setting(s) => (s.get)(&state.config),
            Key::Link(f) => (f.get)(state),
            Key::Image(i) => (i.get)(&state.mnist),
            Key::Gan(g) => (g.get)(&state.gan),
            Key::Tab(t) => (t.get)(&state.tab),
        }
    }

    /// Parses, checks and applies a value; `Err` says what is wrong.
    pub fn set(&self, state: &mut ShareState, value: &str) -> Result<(), String> {
        match self {
            Key::Setting(s) => (s.set)(&mut state.config, value),
            Key::Link(f) => (f.set)(state, value),
            Key::Image(i) => (i.set)(&mut state.mnist, value),
            Key::Gan(g) => (g.set)(&mut state.gan, value),
            Key::Tab(t) => (t.set)(&mut state.tab, value),
        }
    }
}

/// Every key a link can hold, in the order links are written and applied.
pub fn keys() -> impl Iterator<Item = Key> {
    schema::SETTINGS
        .iter()
        .map(Key::Setting)
        .chain(FIELDS.iter().map(Key::Link))
        .chain(IMAGE_SETTINGS.iter().map(Key::Image))
        .chain(GAN_SETTINGS.iter().map(Key::Gan))
        .chain(TABULAR_SETTINGS.iter().map(Key::Tab))
}

/// The key named `name`.
pub fn key(name: &str) -> Option<Key> {
    keys().find(|k| k.name() == name)
}
