// SPDX-License-Identifier: Apache-2.0
//! Facts about the loaded library (versions, CPU kernels, type names) and the check
//! that it is the ABI these bindings declare.
use crate::error::{Error, Result, Status};
use crate::sys;
use crate::util::static_str;
use crate::ABI_VERSION;

/// Version of the library loaded, as `major * 10000 + minor * 100 + patch`.
pub fn version() -> u32 {
    // SAFETY: no arguments.
    unsafe { sys::gemma2_version() }
}

/// Version of the library loaded, e.g. "0.1.0".
pub fn version_string() -> &'static str {
    // SAFETY: returns a static string.
    unsafe { static_str(sys::gemma2_version_string()) }
}

/// ABI major of the library loaded (the SONAME number).
pub fn abi_version() -> u32 {
    // SAFETY: no arguments.
    unsafe { sys::gemma2_abi_version() }
}

/// Name of the matrix kernels a model opened now would use, e.g. "avx2".
pub fn cpu_kernels() -> &'static str {
    // SAFETY: returns a static string.
    unsafe { static_str(sys::gemma2_cpu_kernels()) }
}

/// Name of a weight type (`GEMMA2_TYPE_*`): "f32", "bf16", "q8", "q4" or "unknown".
pub fn type_name(weight_type: i32) -> &'static str {
    // SAFETY: returns a static string.
    unsafe { static_str(sys::gemma2_type_name(weight_type)) }
}

/// Checks that the loaded library is the ABI these bindings declare: ABI version 1,
/// and every struct of [`sys`] the size `gemma2_struct_size` gives.
/// [`Model::open`](crate::Model::open) calls it; an `Err` has [`Status::Version`].
pub fn check_library() -> Result<()> {
    let abi = abi_version();
    if abi != ABI_VERSION {
        return Err(Error::new(
            Status::Version,
            format!("libgemma2 has ABI version {abi}, these bindings need {ABI_VERSION}"),
        ));
    }
    for (which, name, size) in struct_sizes() {
        // SAFETY: plain function of an integer.
        let lib = unsafe { sys::gemma2_struct_size(which) };
        if lib != size {
            return Err(Error::new(
                Status::Version,
                format!("struct {name} is {lib} bytes in libgemma2 but {size} in the Rust declarations"),
            ));
        }
    }
    Ok(())
}

/// `(GEMMA2_STRUCT_*, C name, size_of of the Rust declaration)` of every public struct.
#[doc(hidden)]
pub fn struct_sizes() -> [(i32, &'static str, usize); 10] {
    use std::mem::size_of;
    [
        (sys::GEMMA2_STRUCT_MODEL_OPTIONS, "gemma2_model_options", size_of::<sys::gemma2_model_options>()),
        (
            sys::GEMMA2_STRUCT_SAMPLER_OPTIONS,
            "gemma2_sampler_options",
            size_of::<sys::gemma2_sampler_options>(),
        ),
        (
            sys::GEMMA2_STRUCT_SESSION_OPTIONS,
            "gemma2_session_options",
            size_of::<sys::gemma2_session_options>(),
        ),
        (sys::GEMMA2_STRUCT_MODEL_INFO, "gemma2_model_info", size_of::<sys::gemma2_model_info>()),
        (sys::GEMMA2_STRUCT_TENSOR_INFO, "gemma2_tensor_info", size_of::<sys::gemma2_tensor_info>()),
        (sys::GEMMA2_STRUCT_FEED_OUTPUTS, "gemma2_feed_outputs", size_of::<sys::gemma2_feed_outputs>()),
        (sys::GEMMA2_STRUCT_STEP_RESULT, "gemma2_step_result", size_of::<sys::gemma2_step_result>()),
        (
            sys::GEMMA2_STRUCT_GENERATE_OPTIONS,
            "gemma2_generate_options",
            size_of::<sys::gemma2_generate_options>(),
        ),
        (
            sys::GEMMA2_STRUCT_GENERATE_RESULT,
            "gemma2_generate_result",
            size_of::<sys::gemma2_generate_result>(),
        ),
        (sys::GEMMA2_STRUCT_LOGIT_BIAS, "gemma2_logit_bias", size_of::<sys::gemma2_logit_bias>()),
    ]
}
