from roomful_meetings.cli import main

main()
