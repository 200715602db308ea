//! The registry macro: `register_studies![module::Type, …]` in `study/mod.rs` declares each
//! study's module and builds [`STUDIES`](super::STUDIES), the one list everything generic
//! (CLI, app, tests) walks. Adding a study: write its file (a type implementing
//! [`Study`](super::Study)), add its line there, and register its panel in `ui::panels`
//! (ARCHITECTURE.md, "Adding a study").

macro_rules! register_studies {
    ($($module:ident::$study:ident),* $(,)?) => {
        $( pub mod $module; )*

        /// Every study, in the order the CLI's help lists them.
        pub static STUDIES: &[&(dyn AnyStudy + 'static)] =
            &[$(&erased::Registered::<$module::$study>(std::marker::PhantomData)),*];

        /// The study registered as `id`.
        pub fn find(id: &str) -> Option<&'static dyn AnyStudy> {
            STUDIES.iter().copied().find(|s| s.id() == id)
        }
    };
}
