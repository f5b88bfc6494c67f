function _bench_jobs_completion;
    set -l response (env _BENCH_JOBS_COMPLETE=fish_complete COMP_WORDS=(commandline -cp) \
        COMP_CWORD=(commandline -t) bench-jobs);

    for completion in $response;
        # type,value[TAB help]: only the first comma separates; values and help may hold commas.
        set -l metadata (string split -m 1 "," -- $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories (string split -m 1 \t -- $metadata[2])[1];
        else if test $metadata[1] = "file";
            __fish_complete_path (string split -m 1 \t -- $metadata[2])[1];
        else if test $metadata[1] = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command bench-jobs --arguments "(_bench_jobs_completion)";
